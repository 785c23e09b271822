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
}


def get_kind(name: str) -> NeuronKind:
    """The neuron kind called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown neuron kind {name!r}; known kinds: {', '.join(KINDS)}") from None


def phase_table(kinds: list[str], periods: list[int], stages: list[int], T: int) -> np.ndarray:
    """Phase of every layer in every step, (layers, T) int64: what both engines pass to the rules."""
    table = np.full((len(kinds), T), INTEGRATE_AND_FIRE, np.int64)
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
    "phase_table",
    "IDLE",
    "INTEGRATE",
    "FIRE",
    "INTEGRATE_AND_FIRE",
]
