"""Spiking neuron kinds: each a pure update rule that both engines use, plus its phase schedule.

A rule maps (membrane state, input current, threshold, phase) to (new state, spikes) and is written
with array operations only, so the same function runs on NumPy arrays (the reference engine) and,
compiled by Numba, on scalars inside the event engine's kernels. ``phase`` is what the kind's
schedule says the neuron does in a step (:func:`phase_table`); kinds without phases ignore it. A new
kind (TTFS, signed) is a new rule here plus its entry in :data:`KINDS`; the engines dispatch on the
kind's code.

Bistable neurons (BSNN; Li, Zhao and Zeng, Frontiers in Neuroscience 2022, arXiv 2105.12917) — our
reading, since only the paper's abstract could be consulted (docs/bsnn.md has the reasoning):

- time is cut into cycles of ``period`` steps, cycle ``c = (t − 1) // period`` for steps t = 1..T;
- a layer at pipeline ``stage`` s ≥ 1 is *idle* in cycles c < s − 1 (nothing has reached it yet),
  then alternates: it *integrates* in cycles c ≡ s − 1 (mod 2) and *fires* in cycles c ≡ s (mod 2);
  a layer at stage s integrates exactly while the layers at stage s − 1 fire ("one cycle" of delay
  per layer);
- integrating: ``v ← v + I(t)``, no spike; firing: the input is ignored, ``s = [v ≥ θ]``,
  ``v ← v − s·θ`` (reset by subtraction), spikes carry θ as for IF; idle: nothing changes.

So the spikes a neuron emits in a firing cycle are ``min(period, floor(V/θ))`` for the potential V it
had after integrating a whole cycle: a neuron whose net input over the cycle is ≤ 0 (with v ≤ 0 left
over) emits nothing, whatever the order in which its positive and negative inputs arrived — the
"spikes of inactivated neurons" the paper removes. The residue below θ carries to the next cycle.

Time-to-first-spike neurons (TTFS) follow the exact mapping of a ReLU network to single-spike neurons
of Stanojevic et al. ("An exact mapping from ReLU networks to spiking neural networks", Neural
Networks 2023; "High-performance deep spiking neural networks with 0.3 spikes per neuron", Nature
Communications 2024: the constant-slope mapping), in discrete time (docs/ttfs.md):

- time is cut into windows of K = ``period`` steps; a layer at stage n integrates in window n − 1 and
  may fire only in window n; its spikes carry δ = θ (the layer's resolution, λ/K for a bound λ);
- integrating, at the step that is ``g`` steps before the window's end (g = K .. 1): ``v ← v + g·I(t)``
  — a spike that arrives with g steps left keeps charging for g steps (the linear post-synaptic
  potential of the paper, integrated exactly);
- firing: ``v ← v + θ`` per step (the constant slope), one spike when ``v ≥ K·θ``, then never again:
  the membrane is set to −v (≤ −Kθ), which the remaining ramp of the window cannot lift to Kθ;
- so a neuron whose window ends with ``v = z − θ/2`` fires ``K + 1 − m`` steps into window n with
  ``m = clip(floor(z/θ + 1/2), 0, K)``: earlier for larger z, never for z < θ/2 (every z ≤ 0).

The phase of a TTFS layer encodes this: 0 idle, g > 0 integrate with weight g, −K fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

#: What a neuron does in a step (the values of :func:`phase_table`).
IDLE, INTEGRATE, FIRE, INTEGRATE_AND_FIRE = 0, 1, 2, 3


def if_update(v, current, theta, phase=INTEGRATE_AND_FIRE):
    """Integrate-and-fire with reset by subtraction (DESIGN.md, "Spiking semantics").

    ``m = v + I``; a spike when ``m >= θ``; the membrane keeps ``m - θ`` after a spike. Works on
    scalars and on arrays of equal or broadcastable shapes; ``phase`` is ignored.

    Returns
    -------
    v_new, spike
        The membrane after the step and the spike indicator (bool).
    """
    m = v + current
    spike = m >= theta
    return m - spike * theta, spike


def bistable_update(v, current, theta, phase):
    """Bistable neuron (module docstring): integrate without firing, or fire without integrating.

    ``phase`` is :data:`INTEGRATE`, :data:`FIRE` or :data:`IDLE` for the step (scalar or array).
    """
    m = v + current * (phase == INTEGRATE)
    spike = (m >= theta) & (phase == FIRE)
    return m - spike * theta, spike


def ttfs_update(v, current, theta, phase):
    """TTFS neuron (module docstring): ``phase`` 0 idle, g > 0 integrate ``g·I``, −K fire with ramp θ.

    Written without literals so that NumPy and Numba compute it in float32 alike (``phase`` is a
    float32 from :func:`phase_table`)."""
    integrate = phase > 0
    fire = phase < 0
    m = v + current * (phase * integrate) + theta * fire
    spike = fire & (m >= -phase * theta)
    return m - spike * (m + m), spike


def ttfs_phase(t: np.ndarray, period: int, stage: int) -> np.ndarray:
    """Phase of a TTFS layer at ``stage`` in 0-based steps ``t``: the integration weight g (steps left
    in window stage − 1), −period in window stage, 0 otherwise."""
    t = np.asarray(t)
    window = t // period
    left = period - t % period
    return np.where(window == stage - 1, left, np.where(window == stage, -period, 0)).astype(np.int64)


def bistable_phase(t: np.ndarray, period: int, stage: int) -> np.ndarray:
    """Phase of a bistable layer at pipeline ``stage`` in 0-based steps ``t`` (module docstring)."""
    cycle = np.asarray(t) // period
    phase = np.where((cycle - stage) % 2 == 0, FIRE, INTEGRATE)
    return np.where(cycle < stage - 1, IDLE, phase).astype(np.int64)


@dataclass(frozen=True)
class NeuronKind:
    """A neuron kind: its name, the code the event engine dispatches on, its update rule and, for
    kinds with phases, its schedule ``schedule(t, period, stage) -> phase per step``."""

    name: str
    code: int
    update: Callable
    update_jit: Callable
    description: str
    schedule: Callable | None = None


def _jit(rule: Callable) -> Callable:
    return numba.njit(cache=True, inline="always")(rule)


KINDS: dict[str, NeuronKind] = {
    "if": NeuronKind(
        "if",
        0,
        if_update,
        _jit(if_update),
        "integrate-and-fire, reset by subtraction, spikes carry the threshold",
    ),
    "bistable": NeuronKind(
        "bistable",
        1,
        bistable_update,
        _jit(bistable_update),
        "BSNN bistable neuron: integrates for one cycle, then fires for one cycle (reset by subtraction)",
        bistable_phase,
    ),
    "ttfs": NeuronKind(
        "ttfs",
        2,
        ttfs_update,
        _jit(ttfs_update),
        "time-to-first-spike neuron (Stanojevic et al.): integrates one window, fires at most once in the next",
        ttfs_phase,
    ),
}


def get_kind(name: str) -> NeuronKind:
    """The neuron kind called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown neuron kind {name!r}; known kinds: {', '.join(KINDS)}") from None


def readout_weights(kind: str, phases: np.ndarray) -> np.ndarray:
    """Per-step weights (T,) that turn a neuron's spike train into the value it stands for, in units
    of its spike amplitude θ: ``value = θ · Σ_t w_t s(t)``.

    Rate kinds (IF, bistable): 1/F for each of the F steps in which the layer can fire. TTFS: a spike at
    the k-th step of its firing window stands for K + 1 − k."""
    firing = np.isin(phases, (FIRE, INTEGRATE_AND_FIRE)) if kind != "ttfs" else phases < 0
    if kind != "ttfs":
        return firing / max(int(firing.sum()), 1)
    weights = np.zeros(len(phases))
    period = -phases[firing]
    position = np.cumsum(firing)[firing] - 1  # how many firing steps came before, within the window
    weights[firing] = period - position % period
    return weights


def phase_table(kinds: list[str], periods: list[int], stages: list[int], T: int) -> np.ndarray:
    """Phase of every layer in every step, (layers, T) float32 (small whole numbers): what both engines
    pass to the rules, as float32 so that the rules' arithmetic stays in float32."""
    table = np.full((len(kinds), T), INTEGRATE_AND_FIRE, np.float32)
    steps = np.arange(T)
    for k, (kind, period, stage) in enumerate(zip(kinds, periods, stages)):
        schedule = get_kind(kind).schedule
        if schedule is not None:
            table[k] = schedule(steps, period, stage)
    return table


__all__ = [
    "KINDS",
    "NeuronKind",
    "get_kind",
    "if_update",
    "bistable_update",
    "bistable_phase",
    "ttfs_update",
    "ttfs_phase",
    "phase_table",
    "readout_weights",
    "IDLE",
    "INTEGRATE",
    "FIRE",
    "INTEGRATE_AND_FIRE",
]
