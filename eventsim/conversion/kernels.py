"""The compiled loops of calibration — FTBC's errors (:func:`ftbc_errors`) and OPI's spike counts
(:func:`grid_counts`) — each with a NumPy twin in its method's module (``errors_stepwise`` in
:mod:`.ftbc`, ``counts_stepwise`` in :mod:`.opi`) that the tests hold it to bit for bit."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..errors import DataError
from ..simulation.event.kinds import update

#: Neurons per job of :func:`grid_counts`: with 65 candidates, their state (12 bytes each) is
#: about 200 KiB, which stays in a core's L2 cache.
GRID_BLOCK = 256

#: The kinds :func:`update` compiles in: a new kind edits this file, so Numba's cache recompiles it.
COMPILED_KINDS = ("if", "bistable", "ttfs", "lif", "single_spike", "burst", "signed")


@njit(parallel=True, cache=True)
def ftbc_errors(kind, currents, target, theta, phases, v0, errors):
    """FTBC's error of every neuron in every step on its corrected trajectory.

    ``currents`` (T, N, size) input currents; ``target`` (N, size) ANN activations; ``theta``,
    ``v0`` (size,); ``phases`` (T,). Per neuron from v = v0: ``m = v + Z(t)``; the rule's spike
    s on (v, Z(t)) (its count of θ); ``e = s·θ − a`` into ``errors[t]``; ``v`` = the rule on (m − e, 0);
    a kind's memory follows the first of the two updates. The biases
    do not enter the trajectory, so every step's errors are known before any bias changes.
    """
    steps, n, size = currents.shape
    zero = np.float32(0.0)
    for job in prange(n):
        # one sample's neurons side by side, the steps in order: contiguous rows the loop vectorises
        v = v0.copy()
        memory = np.zeros_like(v0)  # the second number of kinds with memory, carried by the spiking step
        a = target[job]
        for t in range(steps):
            z, e, phase = currents[t, job], errors[t, job], phases[t]
            for i in range(size):
                # scalars read once: the loop then needs no reloads through possibly aliased rows
                vi, zi, th, mi = v[i], z[i], theta[i], memory[i]
                m = vi + zi
                _, spike, kept = update(kind, vi, zi, th, phase, mi)
                ei = spike * th - a[i]
                e[i] = ei
                v[i], _, _ = update(kind, m - ei, zero, th, phase, mi)
                memory[i] = kept


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
def grid_counts(kind, currents, theta, phases, fractions, counts):
    """Spikes of every neuron over the steps from each membrane v0 = f·θ of a grid of fractions:
    ``currents`` (T, N, size), ``theta`` (size,), ``phases`` (T,), ``fractions`` (F,) float32;
    ``counts`` (F, N, size) float32, written. Each current is read once for all F candidates.

    Jobs are (sample, block of :data:`GRID_BLOCK` neurons), so that a block's candidates stay in the
    core's cache over all steps; a neuron's candidates lie side by side and are counted in float32
    (exact: the counts are written as float32 anyway), which lets the candidates' loop vectorise —
    3× faster than counting in int64 over a whole layer's neurons."""
    steps, n, size = currents.shape
    grid = fractions.shape[0]
    blocks = (size + GRID_BLOCK - 1) // GRID_BLOCK
    for job in prange(n * blocks):
        s, b = job // blocks, job % blocks
        lo, hi = b * GRID_BLOCK, min(size, (b + 1) * GRID_BLOCK)
        v = np.empty((hi - lo, grid), np.float32)
        memory = np.zeros((hi - lo, grid), np.float32)
        fired = np.zeros((hi - lo, grid), np.float32)
        for i in range(hi - lo):
            for f in range(grid):
                v[i, f] = fractions[f] * theta[lo + i]
        for t in range(steps):
            z, phase = currents[t, s], phases[t]
            for i in range(hi - lo):
                zi, th = z[lo + i], theta[lo + i]
                vi, mi, fi = v[i], memory[i], fired[i]
                for f in range(grid):
                    vi[f], spike, mi[f] = update(kind, vi[f], zi, th, phase, mi[f])
                    fi[f] += spike
        for f in range(grid):
            for i in range(hi - lo):
                counts[f, s, lo + i] = fired[i, f]


def check_grid_counts(currents, theta, phases, fractions, counts) -> None:
    """Shapes, types and layout of :func:`grid_counts`'s arrays (it indexes them unchecked)."""
    steps, n, size = currents.shape
    fine = (
        theta.shape == (size,)
        and phases.shape == (steps,)
        and fractions.ndim == 1
        and counts.shape == (len(fractions), n, size)
        and all(a.dtype == np.float32 and a.flags.c_contiguous for a in (currents, theta, phases, fractions, counts))
    )
    if not fine:
        raise DataError("OPI's calibration arrays disagree in shape or layout", "report this as a bug of eventsim")
