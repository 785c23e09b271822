"""Weighted ops (``conv``, ``dense``): each input event adds a contiguous row of weights to every
in-bounds target of a dense accumulator (channels-last for convolutions)."""

from __future__ import annotations

from numba import njit

from . import checks
from .codes import DENSE
from .events import decode, emit, scatter_taps, window_geometry


@njit(cache=True, inline="always")
def dense_scatter(weights, ev_idx, ev_val, first, count, acc):
    """Add row ``ev_idx[e]`` of ``weights`` (in, out), times the event's value, to ``acc``; the
    synaptic events (one per output per event)."""
    n_out = acc.shape[0]
    for e in range(count):
        a = ev_val[first + e]
        w_row = weights[ev_idx[first + e]]
        for o in range(n_out):
            acc[o] += a * w_row[o]
    return count * n_out


@njit(cache=True, inline="always")
def conv_scatter(p, k, ev_idx, ev_val, first, count, acc):
    """Add each event's kernel rows (C_out/groups weights per tap) to the outputs whose windows hold
    it, in the channels-last accumulator ``acc``; the synaptic events (in-bounds targets)."""
    geo = p.geometry
    c_in, w_in = geo[k, 0], geo[k, 2]
    c_out, h_out, w_out = geo[k, 3], geo[k, 4], geo[k, 5]
    kh, kw, sh, sw, pt, pl, dh, dw = window_geometry(geo, k)
    groups = geo[k, 14]
    c_g, o_g = c_in // groups, c_out // groups
    w0 = p.fparam_ptr[k]
    # rows of 2-D views: the inner loops become plain contiguous vector adds
    weights = p.fpool[w0 : w0 + groups * kh * kw * c_g * o_g].reshape(groups * kh * kw * c_g, o_g)
    acc2 = acc.reshape(h_out * w_out, c_out)
    window = window_geometry(geo, k)
    sops = 0
    for e in range(count):
        y, x, c = decode(ev_idx[first + e], c_in, w_in)
        sops += scatter_taps(acc2, weights, window, h_out, w_out, c_g, o_g, y, x, c, ev_val[first + e])
    return sops


@njit(cache=True, inline="always")
def emit_nonzero(ev_idx, ev_val, base, values):
    """Emit every non-zero element of ``values`` as an event; how many."""
    n_ev = 0
    for i in range(values.shape[0]):
        if values[i] != 0:
            n_ev = emit(ev_idx, ev_val, base, n_ev, i, values[i])
    return n_ev


@njit(cache=True, inline="always")
def count_synaptic(p, rec, k, t, sops):
    s = p.sop_of[k]
    sample, step = rec.sops_sample, rec.sops_step
    sample[s] += sops
    step[s, t] += sops


@njit(cache=True)
def accumulate_step(p, ws, rec, k, t):
    """One step of a conv/dense node: rebuild its accumulator from this step's input events (a node
    without events and with a clear accumulator is left alone); emit its non-zero outputs when a
    consumer other than a neuron layer reads them. Returns the number of events emitted."""
    j = p.in_idx[p.in_ptr[k]]
    count, dirty = ws.ev_n[j], ws.dirty
    if count == 0 and not dirty[k]:
        return 0
    size, acc0 = p.size[k], p.fbuf_ptr[k]
    acc = ws.fbuf[acc0 : acc0 + size]
    acc[:] = 0.0
    dirty[k] = count > 0
    first = p.ev_ptr[j]
    if p.kernel[k] == DENSE:
        n_in, w0 = p.geometry[k, 0], p.fparam_ptr[k]
        weights = p.fpool[w0 : w0 + n_in * size].reshape(n_in, size)
        sops = dense_scatter(weights, ws.ev_idx, ws.ev_val, first, count, acc)
    else:
        sops = conv_scatter(p, k, ws.ev_idx, ws.ev_val, first, count, acc)
    count_synaptic(p, rec, k, t, sops)
    if not p.needs_events[k]:
        return 0
    return emit_nonzero(ws.ev_idx, ws.ev_val, p.ev_ptr[k], acc)


def check_conv(p, k: int, inputs, room: checks.Room) -> None:
    """The conv kernel reads its weights (kh·kw·C_in·C_out/groups) and a C_out·H·W accumulator."""
    checks.window(p, k, inputs)
    g = p.geometry[k]
    checks.params(p, k, int(g[6] * g[7] * g[0] * (g[3] // g[14])))
    checks.work(room, k, int(p.size[k]), 0)


def check_dense(p, k: int, inputs, room: checks.Room) -> None:
    """The dense kernel reads an (in, out) weight matrix and an accumulator of its outputs."""
    g = p.geometry[k]
    checks.one_input(p, k, inputs, int(g[0]))
    checks.require(g[3] == p.size[k], k, "output size")
    checks.params(p, k, int(g[0] * p.size[k]))
    checks.work(room, k, int(p.size[k]), 0)
