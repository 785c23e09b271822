"""Spiking neuron kinds: one module each, registered here by name.

Adding a kind whose rule has the common shape ``(v, current, theta, phase) -> (v, spike)`` is a new
module with a :class:`~eventsim.snn.kinds.base.NeuronKind` subclass, its line in :data:`KINDS`, and
its line in the event engine's table (:mod:`eventsim.simulation.event.kinds`); docs/architecture.md
shows how.
"""

from __future__ import annotations

import numpy as np

from .base import FIRE, IDLE, INTEGRATE, INTEGRATE_AND_FIRE, NeuronKind
from .bistable import Bistable, bistable_phase, bistable_rule
from .integrate_and_fire import IntegrateAndFire, if_rule
from .ttfs import TimeToFirstSpike, ttfs_phase, ttfs_rule

#: The registered kinds by name.
KINDS: dict[str, NeuronKind] = {kind.name: kind for kind in (IntegrateAndFire(), Bistable(), TimeToFirstSpike())}


def get_kind(name: str) -> NeuronKind:
    """The neuron kind called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown neuron kind {name!r}; known kinds: {', '.join(KINDS)}") from None


def phase_table(kinds: list[str], periods: list[int], stages: list[int], T: int) -> np.ndarray:
    """Phase of every layer in every step, (layers, T) float32 (small whole numbers): what both engines
    pass to the rules, as float32 so that the rules' arithmetic stays in float32."""
    table = np.empty((len(kinds), T), np.float32)
    steps = np.arange(T)
    for k, (kind, period, stage) in enumerate(zip(kinds, periods, stages)):
        table[k] = get_kind(kind).schedule(steps, period, stage)
    return table


__all__ = [
    "KINDS",
    "NeuronKind",
    "get_kind",
    "phase_table",
    "if_rule",
    "bistable_rule",
    "bistable_phase",
    "ttfs_rule",
    "ttfs_phase",
    "IDLE",
    "INTEGRATE",
    "FIRE",
    "INTEGRATE_AND_FIRE",
]
