"""The trace of a neuron layer for the sparse pass: its forward by the Numba kernel, with room for the
active entries grown until every sample's fit; or, for an estimator that is nowhere zero (every entry
active), u of every entry, from which the scan computes dS/du."""

from __future__ import annotations

import numpy as np

from .checks import check_leaky_forward
from .estimators import Estimator


def _no_entries(values: np.ndarray, n: int) -> tuple:
    """Empty stand-ins for the active-entry arrays (the dense trace keeps none)."""
    return (
        np.zeros(values.shape, np.bool_),
        np.zeros((n, 0), np.int64),
        np.zeros((n, 0), np.float32),
        np.zeros((n, 0), np.float32),
        np.zeros(n, np.int64),
    )


def sparse_neurons(tape, name: str, trace, static, current, bias, estimator: Estimator) -> np.ndarray:
    """Run :func:`eventsim.training.kernels.neurons.leaky_forward` for layer ``name`` of ``tape``;
    fills the sparse fields of ``trace`` and returns the values (T, N, n)."""
    from .kernels.neurons import leaky_forward, leaky_forward_dense

    steps, n, size = tape.plan.T, tape.n, trace.theta.size
    if not np.isfinite(estimator.band()):  # every entry active: u of all, dS/du in the scan
        current = current if current is not None else np.zeros((0, 0, 0), np.float32)
        bias = bias if bias is not None else np.zeros((0, 0), np.float32)
        values, trace.u = np.empty((steps, n, size), np.float32), np.empty((steps, n, size), np.float32)
        check_leaky_forward(static, current, bias, trace.v0, trace.theta, values, *_no_entries(values, n))
        leaky_forward_dense(static, current, bias, trace.v0, trace.theta, trace.leak, trace.reset, values, trace.u)
        return values
    room = tape.capacity.get(name, max(16, steps * size // 32))
    current = current if current is not None else np.zeros((0, 0, 0), np.float32)
    bias = bias if bias is not None else np.zeros((0, 0), np.float32)
    values = np.empty((steps, n, size), np.float32)
    active = np.empty((steps, n, size), np.bool_)
    while True:
        pos = np.empty((n, room), np.int64)
        est, us = np.empty((n, room), np.float32), np.empty((n, room), np.float32)
        counts = np.empty(n, np.int64)
        arrays = (static, current, bias, trace.v0, trace.theta)
        check_leaky_forward(*arrays, values, active, pos, est, us, counts)
        leaky_forward(
            *arrays, trace.leak, trace.reset, estimator.code, estimator.params(), np.float64(estimator.band()),
            np.int64(tape.noise_seed), np.int64(trace.index), values, active, pos, est, us, counts,
        )  # fmt: skip
        if counts.max(initial=0) <= room:
            break
        room = int(counts.max() * 1.25) + 16  # a denser batch than before: run again with room for it
    tape.capacity[name] = room
    trace.active, trace.pos, trace.est, trace.us, trace.counts = active, pos, est, us, counts
    return values
