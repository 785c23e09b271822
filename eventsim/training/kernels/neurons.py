"""The trainer's neuron kernels: a layer's forward over all steps, recording only the entries the
backward will visit, and the backward leaky scan that turns their gradients into the gradient of
the layer's input current.

A layer of the leaky family (IF: β = 1) in step t, per neuron::

    m = β·v + I(t);   s = [m ≥ θ];   v ← m − θ·s (subtract) or m − m·s (zero);   value = θ·s

or, for single-spike neurons (reset "once"), s = [m ≥ θ]·[v ≠ SILENT] and v ← SILENT once fired
(:mod:`eventsim.snn.kinds.single_spike`). ``reset`` is the code of :data:`eventsim.training.membrane.RESETS`:
0 subtract, 1 zero, 2 once; the backward treats "once" as the reset to zero, always detached (a
silenced neuron's u is far below θ, so its dS/du is exactly 0 and nothing flows back through it).

with I(t) = static + dynamic(t) (+ temporal bias), added in the engines' order so that the values
are the engines' to the bit. An entry (b, t, j) is *active* when the estimator's dS/du at
u = m − θ is not zero; only active entries carry a gradient back through the spike.

The callers check every shape first (:mod:`eventsim.training.checks`); :mod:`eventsim.training.twins`
holds the NumPy twins the tests hold these kernels to.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...snn.kinds.single_spike import SILENT
from .estimate import estimate, fold_key

# The estimator's functions are inlined here (no call per entry). Numba's cache keys a kernel on its
# own file only: after editing eventsim/training/kernels/estimate.py alone, clear the cache
# (__pycache__/*.nbi, *.nbc) so that this kernel compiles the new estimator.


@njit(cache=True, inline="always")
def _step_row(srow, crow, brow, v, theta, leak, reset, out, u):
    """One step of one sample's layer, without branches (so it vectorises): ``out`` = θ·s, ``u`` =
    m − θ, ``v`` updated. ``crow``/``brow`` are empty when there is no dynamic input or bias."""
    n = v.shape[0]
    for j in range(n):
        c = srow[j] + crow[j] if crow.shape[0] > 0 else srow[j]
        if brow.shape[0] > 0:
            c = c + brow[j]
        fired = v[j] == SILENT
        m = v[j] * leak + c
        s = np.float32(1.0) if m >= theta[j] and not (reset == 2 and fired) else np.float32(0.0)
        out[j] = theta[j] * s
        u[j] = m - theta[j]
        if reset == 2:
            v[j] = SILENT if s != 0 or fired else m
        elif reset == 1:
            v[j] = m - m * s
        else:
            v[j] = m - theta[j] * s


@njit(parallel=True, cache=True)
def leaky_forward(
    static, current, bias, v0, theta, leak, reset, code, params, band, seed, layer, values, active, pos, est,
    us, counts,
):  # fmt: skip
    """All steps of one layer for a batch, in parallel over samples.

    ``static`` (1 or N, n); ``current`` (T, N, n) or (0, 0, 0) without a dynamic input; ``bias``
    (T_b, n) or (0, 0); ``v0``, ``theta`` (n,); ``leak`` float32; ``reset`` the reset's code; the
    estimator's ``code``, ``params`` and ``band`` (|u| ≥ band: never active); ``seed`` and ``layer``
    name the entries' random draws. Writes ``values`` (T, N, n) = θ·s, ``active`` (T, N, n) bool and
    per sample the active entries in step order: position t·n + j in ``pos``, dS/du in ``est`` and u in
    ``us`` (N, capacity); ``counts[b]`` is the number of active entries of sample b, which may exceed
    the capacity (then the caller runs again with more room)."""
    steps, n_samples, n = values.shape
    capacity = pos.shape[1]
    none = np.zeros(0, np.float32)
    for b in prange(n_samples):
        srow = static[0] if static.shape[0] == 1 else static[b]
        v, u = v0.copy(), np.empty(n, np.float32)
        k = 0
        for t in range(steps):
            crow = current[t, b] if current.shape[0] > 0 else none
            brow = bias[t] if t < bias.shape[0] else none
            _step_row(srow, crow, brow, v, theta, leak, reset, values[t, b], u)
            mask = active[t, b]
            mask[:] = False
            # the entries' keys share (seed, layer, t, b): fold those once per row (entry_key's order)
            row_key = fold_key(fold_key(fold_key(fold_key(0, seed), layer), t), b)
            for j in range(n):
                if abs(u[j]) < band:
                    g = estimate(code, params, u[j], fold_key(row_key, j))
                    if g != 0:
                        mask[j] = True
                        if k < capacity:
                            pos[b, k], est[b, k], us[b, k] = t * n + j, g, u[j]
                        k += 1
        counts[b] = k


@njit(parallel=True, cache=True)
def leaky_forward_dense(static, current, bias, v0, theta, leak, reset, values, us):
    """:func:`leaky_forward` keeping u of every entry, ``us`` (T, N, n), instead of the active ones:
    for estimators that are nowhere zero, where every entry is active."""
    steps, n_samples, n = values.shape
    none = np.zeros(0, np.float32)
    for b in prange(n_samples):
        srow = static[0] if static.shape[0] == 1 else static[b]
        v = v0.copy()
        for t in range(steps):
            crow = current[t, b] if current.shape[0] > 0 else none
            brow = bias[t] if t < bias.shape[0] else none
            _step_row(srow, crow, brow, v, theta, leak, reset, values[t, b], us[t, b])


@njit(parallel=True, cache=True)
def leaky_scan_dense(
    grad_values, values, us, theta, leak, reset, detach, spike_grad, code, params, seed, layer, e, grad_v0,
    counts,
):  # fmt: skip
    """:func:`leaky_scan` on the dense trace of :func:`leaky_forward_dense`: dS/du of every entry
    from its u (the estimator's draws keyed as in the sparse forward); ``counts[b]``: the entries of
    sample b with dS/du ≠ 0."""
    steps, n_samples, n = e.shape
    cut = detach or reset == 2  # a single-spike neuron's silencing is never differentiated
    for b in prange(n_samples):
        carry = np.zeros(n, np.float32)
        k = 0
        for t in range(steps - 1, -1, -1):
            row, spikes, u = e[t, b], values[t, b], us[t, b]
            row_key = fold_key(fold_key(fold_key(fold_key(0, seed), layer), t), b)
            for j in range(n):
                g = estimate(code, params, u[j], fold_key(row_key, j))
                k += g != 0
                base = leak * carry[j]
                if reset != 0 and spikes[j] != 0:
                    base = np.float32(0.0)
                val = base + (grad_values[t, b, j] * theta[j] + spike_grad) * g
                if not cut:
                    amount = u[j] + theta[j] if reset != 0 else theta[j]
                    val -= leak * carry[j] * amount * g
                row[j] = val
                carry[j] = val
        for j in range(n):
            grad_v0[b, j] = leak * carry[j]
        counts[b] = k


@njit(parallel=True, cache=True)
def leaky_scan(grad_values, values, theta, leak, reset, detach, spike_grad, pos, est, us, counts, e, grad_v0):
    """The backward leaky scan of one layer, in parallel over samples.

    ``grad_values`` (T, N, n): dL/d(value) where the layer is active (elsewhere unread); ``values``
    the forward's θ·s; ``spike_grad`` a constant dL/ds added to every entry (spike-count penalty); the
    active entries as :func:`leaky_forward` recorded them. Writes ``e`` (T, N, n) = dL/dI(t),

        e(t) = dL/ds(t)·G(t) + β·c(t)·e(t + 1),

    with c = ∂v/∂m: 1 (subtract, reset detached), 1 − s (zero, detached), 1 − θG (subtract) or
    1 − s − mG (zero) when the reset is differentiated; G = 0 off the active entries. ``grad_v0``
    (N, n) gets dL/dv(0) = β·e(0)."""
    steps, n_samples, n = e.shape
    cut = detach or reset == 2  # a single-spike neuron's silencing is never differentiated
    for b in prange(n_samples):
        carry = np.zeros(n, np.float32)
        k = counts[b] - 1
        for t in range(steps - 1, -1, -1):
            row, spikes = e[t, b], values[t, b]
            for j in range(n):
                base = leak * carry[j]
                if reset != 0 and spikes[j] != 0:
                    base = np.float32(0.0)
                row[j] = base
            while k >= 0 and pos[b, k] // n == t:
                j = pos[b, k] - t * n
                g = est[b, k]
                val = row[j] + (grad_values[t, b, j] * theta[j] + spike_grad) * g
                if not cut:
                    amount = us[b, k] + theta[j] if reset != 0 else theta[j]
                    val -= leak * carry[j] * amount * g
                row[j] = val
                k -= 1
            for j in range(n):
                carry[j] = row[j]
        for j in range(n):
            grad_v0[b, j] = leak * carry[j]
