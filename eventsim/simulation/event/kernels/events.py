"""Helpers every kernel shares: emitting an event, and channels-last window arithmetic."""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def emit(ev_idx, ev_val, base, n, index, value):
    """Append the event (index, value) to the list starting at ``base`` that holds ``n``; returns n + 1."""
    ev_idx[base + n] = index
    ev_val[base + n] = value
    return n + 1


@njit(cache=True, inline="always")
def window_geometry(geo, k):
    """Kernel, stride, top/left pads and dilation of node ``k``: (kh, kw, sh, sw, pt, pl, dh, dw)."""
    return geo[k, 6], geo[k, 7], geo[k, 8], geo[k, 9], geo[k, 10], geo[k, 11], geo[k, 12], geo[k, 13]


@njit(cache=True, inline="always")
def decode(index, channels, width):
    """(row, column, channel) of a channels-last (HWC) flat index."""
    pos = index // channels
    return pos // width, pos % width, index % channels


@njit(cache=True, inline="always")
def window_index(pos, pad, tap, dilation, stride, size_out):
    """The output position whose window holds input position ``pos`` at kernel tap ``tap``, or -1."""
    num = pos + pad - tap * dilation
    if num < 0 or num % stride != 0:
        return -1
    out = num // stride
    return out if out < size_out else -1
