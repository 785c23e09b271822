"""Ops that pass events on: the spike-coded ``input``, ``affine`` (scaled events), ``delay`` (a ring
of event lists) and ``map`` (reshape, pad, concat: events move to their new position)."""

from __future__ import annotations

from numba import njit

from . import checks
from .events import emit
from .synapse import count_synaptic


@njit(cache=True, inline="always")
def index_map(p, k, i):
    """Start of index map ``i`` of node ``k`` in the integer pool."""
    return p.ipool[p.iparam_ptr[k] + i]


@njit(cache=True)
def input_step(p, ws, k, t, spikes_in):
    """The spike-coded input: each input spike becomes an event at its engine position, carrying the
    coding's amplitude times the normalisation's scale."""
    ev_idx, ev_val, ipool, fpool = ws.ev_idx, ws.ev_val, p.ipool, p.fpool
    dst0, scale0, base = index_map(p, k, 0), p.fparam_ptr[k], p.ev_ptr[k]
    n_ev = 0
    for s in range(spikes_in.shape[1]):
        if spikes_in[t, s]:
            dst = ipool[dst0 + s]
            value = fpool[scale0 + dst]
            if value != 0:
                n_ev = emit(ev_idx, ev_val, base, n_ev, dst, value)
    return n_ev


@njit(cache=True)
def affine_step(p, ws, k):
    """Each input event scaled by its position's scale (the shift is static)."""
    ev_idx, ev_val, fpool = ws.ev_idx, ws.ev_val, p.fpool
    j = p.in_idx[p.in_ptr[k]]
    first, scale0, base = p.ev_ptr[j], p.fparam_ptr[k], p.ev_ptr[k]
    n_ev = 0
    for e in range(ws.ev_n[j]):
        idx = ev_idx[first + e]
        value = ev_val[first + e] * fpool[scale0 + idx]
        if value != 0:
            n_ev = emit(ev_idx, ev_val, base, n_ev, idx, value)
    return n_ev


@njit(cache=True)
def delay_step(p, ws, rec, k, t):
    """A ring of ``steps`` event lists: emit what entered ``steps`` steps ago, store what enters now
    (each entering event is one synaptic event)."""
    fbuf, ibuf, ev_idx, ev_val = ws.fbuf, ws.ibuf, ws.ev_idx, ws.ev_val
    steps, size = p.geometry[k, 0], p.size[k]
    slot = t % steps
    held = p.ibuf_ptr[k] + slot
    idx0 = p.ibuf_ptr[k] + steps + slot * size
    val0 = p.fbuf_ptr[k] + slot * size
    n_ev, base = 0, p.ev_ptr[k]
    for e in range(ibuf[held]):
        n_ev = emit(ev_idx, ev_val, base, n_ev, ibuf[idx0 + e], fbuf[val0 + e])
    j = p.in_idx[p.in_ptr[k]]
    first, count = p.ev_ptr[j], ws.ev_n[j]
    for e in range(count):
        ibuf[idx0 + e] = ev_idx[first + e]
        fbuf[val0 + e] = ev_val[first + e]
    ibuf[held] = count
    count_synaptic(p, rec, k, t, count)
    return n_ev


@njit(cache=True)
def spread_step(p, ws, k):
    """Each input event copied, with its value, to the ``geometry[0]`` output positions its index
    map lists (upsampling)."""
    ev_idx, ev_val, ipool = ws.ev_idx, ws.ev_val, p.ipool
    copies, j = p.geometry[k, 0], p.in_idx[p.in_ptr[k]]
    start, first = index_map(p, k, 0), p.ev_ptr[j]
    n_ev, base = 0, p.ev_ptr[k]
    for e in range(ws.ev_n[j]):
        targets, value = start + ev_idx[first + e] * copies, ev_val[first + e]
        for r in range(copies):
            n_ev = emit(ev_idx, ev_val, base, n_ev, ipool[targets + r], value)
    return n_ev


@njit(cache=True)
def map_step(p, ws, k):
    """Events of every input that carries spikes, moved to their positions in the output."""
    ev_idx, ev_val, ev_n, ipool = ws.ev_idx, ws.ev_val, ws.ev_n, p.ipool
    n_ev, base = 0, p.ev_ptr[k]
    for q in range(p.in_ptr[k], p.in_ptr[k + 1]):
        j = p.in_idx[q]
        start, first = index_map(p, k, q - p.in_ptr[k]), p.ev_ptr[j]
        for e in range(ev_n[j]):
            n_ev = emit(ev_idx, ev_val, base, n_ev, ipool[start + ev_idx[first + e]], ev_val[first + e])
    return n_ev


def check_input(p, k: int, inputs, room: checks.Room) -> None:
    """An engine position per input element, a scale per position."""
    checks.index_map(p, k, 0, room.input_size, int(p.size[k]))
    checks.params(p, k, int(p.size[k]))


def check_affine(p, k: int, inputs, room: checks.Room) -> None:
    """One input of its size, a scale per position."""
    checks.one_input(p, k, inputs, int(p.size[k]))
    checks.params(p, k, int(p.size[k]))


def check_delay(p, k: int, inputs, room: checks.Room) -> None:
    """One input of its size; per slot of its ring, event values, positions and a count."""
    steps = int(p.geometry[k, 0])
    checks.require(steps >= 1, k, "delay steps")
    checks.one_input(p, k, inputs, int(p.size[k]))
    checks.work(room, k, steps * int(p.size[k]), steps * (1 + int(p.size[k])))


def check_map(p, k: int, inputs, room: checks.Room) -> None:
    """A position map per input, into the output."""
    for i, j in enumerate(inputs):
        checks.index_map(p, k, i, int(p.size[j]), int(p.size[k]))


def check_spread(p, k: int, inputs, room: checks.Room) -> None:
    """One input whose every position has ``copies`` targets listed in the index map."""
    copies = int(p.geometry[k, 0])
    checks.require(copies >= 1 and p.size[k] % copies == 0, k, "copies")
    checks.one_input(p, k, inputs, int(p.size[k]) // copies)
    checks.index_map(p, k, 0, int(p.size[k]), int(p.size[k]))
