"""The trainer's sparse kernels for the weighted ops (dense, conv): the weight gradient from the input
events only, and the input gradient only where it is needed (where the layer below is active).

Rows are (step, sample) pairs, all independent. Weights are in the event lowering's layout, the one
the forward scatters use (dense: Wᵀ, (in, out); conv: (groups·kh·kw·C_in/groups, C_out/groups)),
so a weight gradient comes back in that layout too. The callers check every shape first
(:mod:`eventsim.training.checks`); :mod:`eventsim.training.twins` holds the NumPy twins.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...simulation.event.kernels.events import window_index


@njit(parallel=True, cache=True)
def dense_weight_grad(x, g, parts):
    """``parts[p]`` (in, out) += x[r, i]·g[r, :] for every non-zero x[r, i] of the rows of part p:
    ``x`` (R, in), ``g`` (R, out); the caller sums the parts."""
    rows, n_in, n_out = x.shape[0], x.shape[1], g.shape[1]
    per = (rows + parts.shape[0] - 1) // parts.shape[0]
    for p in prange(parts.shape[0]):
        acc = parts[p]
        for r in range(p * per, min(rows, (p + 1) * per)):
            src, grow = x[r], g[r]
            for i in range(n_in):
                a = src[i]
                if a == 0:
                    continue
                dst = acc[i]
                for o in range(n_out):
                    dst[o] += a * grow[o]


@njit(parallel=True, cache=True)
def dense_input_grad(g, weights, mask, out):
    """``out[r, i] = Σ_o weights[i, o]·g[r, o]`` where ``mask[r, i]``, else 0."""
    rows, n_in, n_out = out.shape[0], out.shape[1], g.shape[1]
    for r in prange(rows):
        grow, need, dst = g[r], mask[r], out[r]
        for i in range(n_in):
            if not need[i]:
                dst[i] = 0.0
                continue
            w_row = weights[i]
            total = np.float32(0.0)
            for o in range(n_out):
                total += w_row[o] * grow[o]
            dst[i] = total


@njit(cache=True, inline="always")
def _channels_last(src, dst, c_out, hw_out):
    """One row of an output gradient in graph layout (C·H·W) as (H·W, C)."""
    for c in range(c_out):
        for p in range(hw_out):
            dst[p, c] = src[c * hw_out + p]


@njit(cache=True, inline="always")
def _taps(geo, i, g2, weights, acc, a):
    """Input ``i`` of a convolution (graph layout) at every kernel tap whose window holds it: with
    ``acc`` (weight rows), add ``a`` times the window's output gradient (``g2``, channels-last) to
    the tap's weight row; without (``acc`` of zero rows), return Σ of the tap's weight row times
    that gradient. ``geo`` is the op's geometry row."""
    c_in, h_in, w_in, c_out, h_out, w_out = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    kh, kw, sh, sw, pt, pl, dh, dw, groups = geo[6], geo[7], geo[8], geo[9], geo[10], geo[11], geo[12], geo[13], geo[14]
    c_g, o_g, hw_in = c_in // groups, c_out // groups, h_in * w_in
    c = i // hw_in
    y = (i - c * hw_in) // w_in
    xx = i - c * hw_in - y * w_in
    grp = c // c_g
    first, row0 = grp * o_g, grp * kh * kw * c_g + c - grp * c_g
    accumulate = acc.shape[0] > 0
    total = np.float32(0.0)
    for ki in range(kh):
        oy = window_index(y, pt, ki, dh, sh, h_out)
        if oy < 0:
            continue
        for kj in range(kw):
            ox = window_index(xx, pl, kj, dw, sw, w_out)
            if ox < 0:
                continue
            row, grow = row0 + (ki * kw + kj) * c_g, g2[oy * w_out + ox, first : first + o_g]
            if accumulate:
                dst = acc[row]
                for o in range(o_g):
                    dst[o] += a * grow[o]
            else:
                w_row = weights[row]
                for o in range(o_g):
                    total += w_row[o] * grow[o]
    return total


@njit(parallel=True, cache=True)
def conv_weight_grad(x, g, geo, parts):
    """The weight gradient of a convolution from the non-zero inputs of ``x`` (R, C_in·H·W) and the
    output gradient ``g`` (R, C_out·Ho·Wo): each input event meets, at every kernel tap whose window
    holds it, the gradient of that window's C_out/groups outputs. ``parts[p]`` has the weights'
    layout; ``geo`` is the op's geometry row."""
    c_out, hw_out = geo[3], geo[4] * geo[5]
    rows = x.shape[0]
    per = (rows + parts.shape[0] - 1) // parts.shape[0]
    for p in prange(parts.shape[0]):
        acc, g2 = parts[p], np.empty((hw_out, c_out), np.float32)
        for r in range(p * per, min(rows, (p + 1) * per)):
            src = x[r]
            transposed = False
            for i in range(src.shape[0]):
                if src[i] == 0:
                    continue
                if not transposed:  # only rows with events need their gradient channels-last
                    _channels_last(g[r], g2, c_out, hw_out)
                    transposed = True
                _taps(geo, i, g2, acc, acc, src[i])


@njit(parallel=True, cache=True)
def conv_input_grad(g, weights, geo, mask, out):
    """``out[r, i]``: the gradient of input i of row r, Σ over the taps whose windows hold it of the
    kernel row times the window's output gradient, where ``mask[r, i]`` (else 0)."""
    c_out, hw_out = geo[3], geo[4] * geo[5]
    none = np.zeros((0, weights.shape[1]), np.float32)
    for r in prange(out.shape[0]):
        need, dst = mask[r], out[r]
        g2 = np.empty((hw_out, c_out), np.float32)
        transposed = False
        for i in range(dst.shape[0]):
            dst[i] = 0.0
            if not need[i]:
                continue
            if not transposed:
                _channels_last(g[r], g2, c_out, hw_out)
                transposed = True
            dst[i] = _taps(geo, i, g2, weights, none, np.float32(0.0))
