"""Spiking neuron kinds: one module each, registered here by name.

Adding a kind whose rule has the common shape ``(v, current, theta, phase) -> (v, spike)`` (or, with
memory, ``(v, current, theta, phase, memory) -> (v, spike, memory)``) is a new
module with a :class:`~eventsim.snn.kinds.base.NeuronKind` subclass, its line in :data:`KINDS`, and
its line in the event engine's table (:mod:`eventsim.simulation.event.kinds`, with the kernels' lists
of compiled kinds); docs/architecture.md shows how.
"""

from __future__ import annotations

import numpy as np

from .base import FIRE, IDLE, INTEGRATE, INTEGRATE_AND_FIRE, RESETS, NeuronKind, NeuronLayer
from .bistable import Bistable, bistable_phase, bistable_rule
from .burst import Burst, burst_phase, burst_rule
from .integrate_and_fire import IntegrateAndFire, if_rule
from .leaky import LeakyIntegrateAndFire, lif_phase, lif_rule
from .signed import Signed, signed_rule
from .single_spike import SILENT, SingleSpike, single_spike_phase, single_spike_rule
from .ttfs import TimeToFirstSpike, ttfs_phase, ttfs_rule

#: The registered kinds by name.
KINDS: dict[str, NeuronKind] = {
    kind.name: kind
    for kind in (
        IntegrateAndFire(),
        Bistable(),
        TimeToFirstSpike(),
        LeakyIntegrateAndFire(),
        SingleSpike(),
        Burst(),
        Signed(),
    )
}


def get_kind(name: str) -> NeuronKind:
    """The neuron kind called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown neuron kind {name!r}; known kinds: {', '.join(KINDS)}") from None


def phase_table(layers: list[NeuronLayer], T: int) -> np.ndarray:
    """Phase of every layer in every step, (layers, T) float32, from each layer's kind
    (:meth:`NeuronKind.phases`: small whole numbers for the scheduled kinds, ±β for LIF): what both
    engines pass to the rules, as float32 so that the rules' arithmetic stays in float32."""
    table = np.empty((len(layers), T), np.float32)
    steps = np.arange(T)
    for k, layer in enumerate(layers):
        table[k] = get_kind(layer.kind).phases(steps, layer)
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
    "lif_rule",
    "lif_phase",
    "single_spike_rule",
    "single_spike_phase",
    "burst_rule",
    "burst_phase",
    "signed_rule",
    "SILENT",
    "RESETS",
    "IDLE",
    "INTEGRATE",
    "FIRE",
    "INTEGRATE_AND_FIRE",
]
