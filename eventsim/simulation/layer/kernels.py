"""The layer engine's Numba kernels: plain loops over contiguous arrays in graph layout.

Each works on a *chunk*: ``R`` rows of (step, sample) pairs for the linear parts (all independent, so
they run in parallel even for one sample), and (steps, samples, neurons) for the neuron rule, which
runs over the steps in order with each neuron's membrane held in a register. The callers check every
shape and index first (:mod:`.checks`); each kernel has a NumPy twin (:mod:`.twins`) that the tests
hold it to.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...snn.kinds.base import IDLE
from ..event.kernels.events import scatter_taps
from ..event.kinds import update

#: The kinds of the event engine's table (:data:`~eventsim.simulation.event.kinds.RULES`) compiled
#: into this module's cached kernels. Numba invalidates a cached kernel only when its own file
#: changes, not when a rule it inlines does: a new kind edits this line too, which recompiles them
#: (tests/snn/test_kinds.py holds it to the table).
COMPILED_KINDS = ("if", "bistable", "ttfs", "lif", "single_spike", "burst", "signed")


@njit(parallel=True, cache=True)
def count_events(x, fanout, sops):
    """``sops[r]``: synaptic events of row ``r`` of ``x`` (R, size): the fan-out of every non-zero."""
    for r in prange(x.shape[0]):
        row = x[r]
        total = 0
        for i in range(row.shape[0]):
            total += fanout[i] * (row[i] != 0)  # no branch: rows are 5-50 % non-zero
        sops[r] = total


@njit(parallel=True, cache=True)
def dense_events(x, weights, geo, out, parts):
    """``out[r] = x[r] @ weights`` by adding one weight row per non-zero input: ``x`` (R, in),
    ``weights`` (in, out), ``out`` (R, out); rows split into ``parts`` parallel parts. ``geo`` (the
    geometry row) is not read: the scatters share one signature."""
    rows, n_in, n_out = x.shape[0], x.shape[1], out.shape[1]
    per = (rows + parts - 1) // parts
    for part in prange(parts):
        for r in range(part * per, min(rows, (part + 1) * per)):
            dst = out[r]
            dst[:] = 0.0
            src = x[r]
            for i in range(n_in):
                a = src[i]
                if a == 0:
                    continue
                w_row = weights[i]
                for o in range(n_out):
                    dst[o] += a * w_row[o]


@njit(parallel=True, cache=True)
def conv_events(x, weights, geo, out, parts):
    """A convolution of every row of ``x`` (R, C_in·H·W, graph layout) by event scatter: each non-zero
    input adds its kernel rows (C_out/groups weights per tap, ``weights`` of shape
    (groups·kh·kw·C_in/groups, C_out/groups)) to the outputs whose windows hold it, in a channels-last
    accumulator per part that is then written to ``out`` (R, C_out·Ho·Wo) in graph layout. ``geo`` is
    the op's geometry row (:func:`eventsim.ir.ops.lowering.window_geometry`)."""
    c_in, h_in, w_in, c_out, h_out, w_out = geo[0], geo[1], geo[2], geo[3], geo[4], geo[5]
    window = (geo[6], geo[7], geo[8], geo[9], geo[10], geo[11], geo[12], geo[13])
    groups = geo[14]
    c_g, o_g = c_in // groups, c_out // groups
    hw_in, hw_out = h_in * w_in, h_out * w_out
    rows = x.shape[0]
    per = (rows + parts - 1) // parts
    for part in prange(parts):
        acc = np.empty((hw_out, c_out), np.float32)
        for r in range(part * per, min(rows, (part + 1) * per)):
            acc[:] = 0.0
            src = x[r]
            for i in range(c_in * hw_in):
                a = src[i]
                if a == 0:
                    continue
                c = i // hw_in
                y = (i - c * hw_in) // w_in
                scatter_taps(acc, weights, window, h_out, w_out, c_g, o_g, y, i - c * hw_in - y * w_in, c, a)
            dst = out[r]
            for c in range(c_out):
                for p in range(hw_out):
                    dst[c * hw_out + p] = acc[p, c]


@njit(parallel=True, cache=True)
def neuron_steps(kind, static, current, bias, theta, phases, v, memory, values, counts, neuron_counts, block):
    """A neuron layer over a chunk of steps, each neuron's steps in order.

    ``static`` (1 or N, size) constant current; ``current`` (steps, N, size) the dynamic part, or
    (0, 0, 0) if none; ``bias`` (steps, size) temporal bias, or (0, 0) if none; ``theta`` (size,),
    all > 0; ``phases`` (steps,) float32, idle steps skipped; ``v`` (N, size) membranes and ``memory``
    (N, size) the kind's second number per neuron, updated. Writes ``values``
    (steps, N, size): k·θ where a neuron emitted k spikes, else 0 (so a spike is a non-zero value);
    ``counts`` (steps, N, blocks): spikes per block of ``block`` neurons; adds each neuron's spikes to
    ``neuron_counts`` (N, size). Work is split over samples and blocks of neurons, so one sample runs on
    all cores too. The current of a block is summed into a row buffer first and the rule runs in a
    loop of its own, which LLVM vectorises.
    """
    steps, n, size = values.shape
    blocks = (size + block - 1) // block
    shared = static.shape[0] == 1
    dynamic, biased = current.shape[0] > 0, bias.shape[0] > 0
    for job in prange(n * blocks):
        s, b = job // blocks, job % blocks
        lo, hi = b * block, min(size, (b + 1) * block)
        srow = static[0, lo:hi] if shared else static[s, lo:hi]
        vrow, mrow, th, fired_total = v[s, lo:hi], memory[s, lo:hi], theta[lo:hi], neuron_counts[s, lo:hi]
        buf = np.empty(hi - lo, np.float32)
        for t in range(steps):
            if phases[t] == IDLE:  # the layer waits (scheduled kinds): no change, no spike
                values[t, s, lo:hi] = 0.0
                counts[t, s, b] = 0
                continue
            if dynamic:
                cur = current[t, s, lo:hi]
                for i in range(hi - lo):
                    buf[i] = srow[i] + cur[i]
            else:
                buf[:] = srow
            if biased:
                row = bias[t, lo:hi]
                for i in range(hi - lo):
                    buf[i] = buf[i] + row[i]
            phase, out, fired = phases[t], values[t, s, lo:hi], 0
            for i in range(hi - lo):
                vi, spike, kept = update(kind, vrow[i], buf[i], th[i], phase, mrow[i])
                vrow[i] = vi
                mrow[i] = kept
                out[i] = spike * th[i]  # the reference's spikes × θ, in float32
                many = np.int64(abs(spike))
                fired_total[i] += many
                fired += many
            counts[t, s, b] = fired


@njit(parallel=True, cache=True)
def maxpool_steps(x, geo, cumulative, previous, out):
    """Max pooling on cumulative counts over a chunk of steps: per step, add ``x[t]`` (steps, N,
    C·H·W) to the running sums ``cumulative`` (N, C·H·W), pool them (windows of the geometry row
    ``geo``; taps in the padding never win) and write the growth over ``previous`` (N, C·Ho·Wo), the
    pooled sums of the step before, to ``out`` (steps, N, C·Ho·Wo). Parallel over (sample, channel)."""
    c_in, h_in, w_in, h_out, w_out = geo[0], geo[1], geo[2], geo[4], geo[5]
    kh, kw, sh, sw, pt, pl, dh, dw = geo[6], geo[7], geo[8], geo[9], geo[10], geo[11], geo[12], geo[13]
    steps, n = x.shape[0], x.shape[1]
    hw_in, hw_out = h_in * w_in, h_out * w_out
    lowest = np.float32(-np.inf)
    for job in prange(n * c_in):
        s, c = job // c_in, job % c_in
        src0, dst0 = c * hw_in, c * hw_out
        cum, prev = cumulative[s, src0 : src0 + hw_in], previous[s, dst0 : dst0 + hw_out]
        for t in range(steps):
            row = x[t, s, src0 : src0 + hw_in]
            dst = out[t, s, dst0 : dst0 + hw_out]
            events = 0
            for i in range(hw_in):
                events += row[i] != 0
            if events == 0:  # the running sums, so the pooled values, stay: no growth (exactly 0)
                dst[:] = 0.0
                continue
            for i in range(hw_in):
                cum[i] = cum[i] + row[i]
            for oy in range(h_out):
                for ox in range(w_out):
                    best = lowest  # float32 throughout: the growth is a float32 difference, as in NumPy
                    for ki in range(kh):
                        y = oy * sh - pt + ki * dh
                        if y < 0 or y >= h_in:
                            continue
                        for kj in range(kw):
                            xx = ox * sw - pl + kj * dw
                            if 0 <= xx < w_in:
                                best = max(best, cum[y * w_in + xx])
                    p = oy * w_out + ox
                    dst[p] = best - prev[p]
                    prev[p] = best
