"""Helpers every kernel shares: emitting an event, channels-last window arithmetic, and the scatter of one
event through a convolution's taps (used by both event engines)."""

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


@njit(cache=True, inline="always")
def scatter_taps(acc2, weights, window, h_out, w_out, c_g, o_g, y, x, c, a):
    """Add ``a`` times the kernel rows of input channel ``c`` (C_out/groups weights per tap, rows of
    ``weights`` (groups·kh·kw·C_in/groups, C_out/groups)) to every output whose window holds input
    position (``y``, ``x``), in the channels-last accumulator ``acc2`` (Ho·Wo, C_out); ``window`` is
    (kh, kw, sh, sw, pt, pl, dh, dw). Returns the synaptic events (in-bounds targets)."""
    kh, kw, sh, sw, pt, pl, dh, dw = window
    g = c // c_g
    first, row0 = g * o_g, g * kh * kw * c_g + c - g * c_g
    sops = 0
    for ki in range(kh):
        oy = window_index(y, pt, ki, dh, sh, h_out)
        if oy < 0:
            continue
        for kj in range(kw):
            ox = window_index(x, pl, kj, dw, sw, w_out)
            if ox < 0:
                continue
            w_row = weights[row0 + (ki * kw + kj) * c_g]
            # a slice of exactly the group's outputs: the inner loop is a plain contiguous vector add
            out_row = acc2[oy * w_out + ox, first : first + o_g]
            for o in range(o_g):
                out_row[o] += a * w_row[o]
            sops += o_g
    return sops
