"""Ops that pass events on: the spike-coded ``input``, ``affine`` (scaled events), ``delay`` (a ring
of event lists) and ``map`` (reshape, pad, concat: events move to their new position)."""

from __future__ import annotations

from numba import njit

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
