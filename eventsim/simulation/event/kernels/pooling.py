"""Ops that merge events per output position: ``avgpool`` and ``add`` sum the events of a step per
position (and the pool divides once, as the executor does); ``maxpool`` keeps cumulative input counts
and emits the growth of each window's maximum."""

from __future__ import annotations

import numpy as np
from numba import njit

from . import checks
from .codes import AVGPOOL
from .events import decode, emit, window_geometry, window_index
from .synapse import count_synaptic


@njit(cache=True, inline="always")
def _touch(ibuf, flag0, list0, n_touched, o):
    """Note position ``o`` as touched in this step (once); the new number of touched positions."""
    if ibuf[flag0 + o] == 0:
        ibuf[flag0 + o] = 1
        ibuf[list0 + n_touched] = o
        n_touched += 1
    return n_touched


@njit(cache=True, inline="always")
def _pool_scatter(geo, k, ev_idx, ev_val, first, count, fbuf, sums0, ibuf, flag0, list0, n_touched):
    """Add ``count`` events from ``first`` to the windows of average pool k that hold them;
    (touched positions, synaptic events)."""
    c_in, w_in = geo[k, 0], geo[k, 2]
    h_out, w_out = geo[k, 4], geo[k, 5]
    kh, kw, sh, sw, pt, pl, dh, dw = window_geometry(geo, k)
    sops = 0
    for e in range(count):
        y, x, c = decode(ev_idx[first + e], c_in, w_in)
        a = ev_val[first + e]
        for ki in range(kh):
            oy = window_index(y, pt, ki, dh, sh, h_out)
            if oy < 0:
                continue
            for kj in range(kw):
                ox = window_index(x, pl, kj, dw, sw, w_out)
                if ox < 0:
                    continue
                o = (oy * w_out + ox) * c_in + c
                fbuf[sums0 + o] += a
                sops += 1
                n_touched = _touch(ibuf, flag0, list0, n_touched, o)
    return n_touched, sops


@njit(cache=True)
def sum_step(p, ws, rec, k, t):
    """One step of an avgpool or add node: sum the step's input events per output position, emit the
    non-zero sums (averages), and clear what was touched. Returns the number of events emitted."""
    fbuf, ibuf, ev_idx, ev_val, ev_n = ws.fbuf, ws.ibuf, ws.ev_idx, ws.ev_val, ws.ev_n
    ev_ptr, in_idx = p.ev_ptr, p.in_idx
    sums0, flag0, list0 = p.fbuf_ptr[k], p.ibuf_ptr[k], p.ibuf_ptr[k] + p.size[k]
    pool = p.kernel[k] == AVGPOOL
    n_touched = sops = 0
    for q in range(p.in_ptr[k], p.in_ptr[k + 1]):
        j = in_idx[q]
        first, count = ev_ptr[j], ev_n[j]
        if pool:
            n_touched, added = _pool_scatter(
                p.geometry, k, ev_idx, ev_val, first, count, fbuf, sums0, ibuf, flag0, list0, n_touched
            )
            sops += added
            continue
        for e in range(count):
            idx = ev_idx[first + e]
            fbuf[sums0 + idx] += ev_val[first + e]
            n_touched = _touch(ibuf, flag0, list0, n_touched, idx)
    n_ev, base = 0, ev_ptr[k]
    divisor = p.fpool[p.fparam_ptr[k] :] if pool else p.fpool[:0]
    for q in range(n_touched):
        o = ibuf[list0 + q]
        value = fbuf[sums0 + o]
        if pool:
            value = value / divisor[o]
        fbuf[sums0 + o] = 0.0
        ibuf[flag0 + o] = 0
        if value != 0:
            n_ev = emit(ev_idx, ev_val, base, n_ev, o, value)
    if pool:
        count_synaptic(p, rec, k, t, sops)
    return n_ev


@njit(cache=True, inline="always")
def _window_max(fbuf, cum0, o, c_in, h_in, w_in, w_out, kh, kw, sh, sw, pt, pl, dh, dw):
    """The largest cumulative input in the window of output position ``o`` (padding never wins)."""
    c = o % c_in
    pos = o // c_in
    ox, oy = pos % w_out, pos // w_out
    best = -np.inf
    for ki in range(kh):
        y = oy * sh - pt + ki * dh
        if y < 0 or y >= h_in:
            continue
        for kj in range(kw):
            x = ox * sw - pl + kj * dw
            if x < 0 or x >= w_in:
                continue
            value = fbuf[cum0 + (y * w_in + x) * c_in + c]
            if value > best:
                best = value
    return best


@njit(cache=True)
def maxpool_step(p, ws, k):
    """One step of a max pool on spikes: add the input events to the cumulative input, and for every
    window they touch emit the growth of its maximum. Returns the number of events emitted."""
    fbuf, ibuf, ev_idx, ev_val = ws.fbuf, ws.ibuf, ws.ev_idx, ws.ev_val
    j = p.in_idx[p.in_ptr[k]]
    geo = p.geometry
    c_in, h_in, w_in = geo[k, 0], geo[k, 1], geo[k, 2]
    h_out, w_out = geo[k, 4], geo[k, 5]
    kh, kw, sh, sw, pt, pl, dh, dw = window_geometry(geo, k)
    cum0, pooled0 = p.fbuf_ptr[k], p.fbuf_ptr[k] + p.size[j]
    flag0, list0 = p.ibuf_ptr[k], p.ibuf_ptr[k] + p.size[k]
    first, n_touched = p.ev_ptr[j], 0
    for e in range(ws.ev_n[j]):
        idx = ev_idx[first + e]
        fbuf[cum0 + idx] += ev_val[first + e]
        y, x, c = decode(idx, c_in, w_in)
        for ki in range(kh):
            oy = window_index(y, pt, ki, dh, sh, h_out)
            if oy < 0:
                continue
            for kj in range(kw):
                ox = window_index(x, pl, kj, dw, sw, w_out)
                if ox >= 0:
                    n_touched = _touch(ibuf, flag0, list0, n_touched, (oy * w_out + ox) * c_in + c)
    n_ev, base = 0, p.ev_ptr[k]
    for q in range(n_touched):
        o = ibuf[list0 + q]
        ibuf[flag0 + o] = 0
        best = _window_max(fbuf, cum0, o, c_in, h_in, w_in, w_out, kh, kw, sh, sw, pt, pl, dh, dw)
        if best != fbuf[pooled0 + o]:
            n_ev = emit(ev_idx, ev_val, base, n_ev, o, best - fbuf[pooled0 + o])
            fbuf[pooled0 + o] = best
    return n_ev


def check_avgpool(p, k: int, inputs, room: checks.Room) -> None:
    """Sums, touched flags and list per output, a divisor per output."""
    checks.window(p, k, inputs)
    checks.params(p, k, int(p.size[k]))
    checks.work(room, k, int(p.size[k]), 2 * int(p.size[k]))


def check_add(p, k: int, inputs, room: checks.Room) -> None:
    """Every input as large as the sum; sums, touched flags and list per output."""
    checks.require(len(inputs) >= 1 and all(p.size[j] == p.size[k] for j in inputs), k, "inputs")
    checks.work(room, k, int(p.size[k]), 2 * int(p.size[k]))


def check_maxpool(p, k: int, inputs, room: checks.Room) -> None:
    """The cumulative input and the pooled value; touched flags and list per output."""
    checks.window(p, k, inputs)
    checks.work(room, k, int(p.size[inputs[0]] + p.size[k]), 2 * int(p.size[k]))
