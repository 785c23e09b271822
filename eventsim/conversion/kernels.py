"""The compiled loops of calibration — FTBC's errors (:func:`ftbc_errors`) and OPI's spike counts
(:func:`spike_counts`) — each with a NumPy twin in its method's module (``errors_stepwise`` in
:mod:`.ftbc`, ``counts_stepwise`` in :mod:`.opi`) that the tests hold it to bit for bit."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..errors import DataError
from ..simulation.event.kinds import update

#: The kinds :func:`update` compiles in: a new kind edits this file, so Numba's cache recompiles it.
COMPILED_KINDS = ("if", "bistable", "ttfs", "lif", "single_spike")


@njit(parallel=True, cache=True)
def ftbc_errors(kind, currents, target, theta, phases, v0, errors):
    """FTBC's error of every neuron in every step on its corrected trajectory.

    ``currents`` (T, N, size) input currents; ``target`` (N, size) ANN activations; ``theta``,
    ``v0`` (size,); ``phases`` (T,). Per neuron from v = v0: ``m = v + Z(t)``; the rule's spike
    s on (v, Z(t)); ``e = θ·s − a`` into ``errors[t]``; ``v`` = the rule on (m − e, 0). The biases
    do not enter the trajectory, so every step's errors are known before any bias changes.
    """
    steps, n, size = currents.shape
    zero = np.float32(0.0)
    for job in prange(n):
        # one sample's neurons side by side, the steps in order: contiguous rows the loop vectorises
        v = v0.copy()
        a = target[job]
        for t in range(steps):
            z, e, phase = currents[t, job], errors[t, job], phases[t]
            for i in range(size):
                m = v[i] + z[i]
                _, spike = update(kind, v[i], z[i], theta[i], phase)
                e[i] = (theta[i] if spike else zero) - a[i]
                v[i], _ = update(kind, m - e[i], zero, theta[i], phase)


def check_ftbc_errors(currents, target, theta, phases, v0, errors) -> None:
    """Shapes, types and layout of :func:`ftbc_errors`'s arrays (it indexes them unchecked)."""
    steps, n, size = currents.shape
    fine = (
        target.shape == (n, size)
        and theta.shape == (size,)
        and v0.shape == (size,)
        and phases.shape == (steps,)
        and errors.shape == currents.shape
        and all(a.dtype == np.float32 and a.flags.c_contiguous for a in (currents, target, theta, phases, v0, errors))
    )
    if not fine:
        raise DataError("FTBC's calibration arrays disagree in shape or layout", "report this as a bug of eventsim")


@njit(parallel=True, cache=True)
def spike_counts(kind, currents, theta, phases, v0, counts):
    """Spikes of every neuron over the steps from membrane ``v0``: ``currents`` (T, N, size),
    ``theta``, ``v0`` (size,), ``phases`` (T,); ``counts`` (N, size) float32, written."""
    steps, n, size = currents.shape
    for job in prange(n):
        v = v0.copy()
        fired = np.zeros(size, np.int64)
        for t in range(steps):
            z, phase = currents[t, job], phases[t]
            for i in range(size):
                v[i], spike = update(kind, v[i], z[i], theta[i], phase)
                fired[i] += spike
        for i in range(size):
            counts[job, i] = np.float32(fired[i])


def check_spike_counts(currents, theta, phases, v0, counts) -> None:
    """Shapes, types and layout of :func:`spike_counts`'s arrays (it indexes them unchecked)."""
    steps, n, size = currents.shape
    fine = (
        theta.shape == (size,)
        and v0.shape == (size,)
        and phases.shape == (steps,)
        and counts.shape == (n, size)
        and all(a.dtype == np.float32 and a.flags.c_contiguous for a in (currents, theta, phases, v0, counts))
    )
    if not fine:
        raise DataError("OPI's calibration arrays disagree in shape or layout", "report this as a bug of eventsim")
