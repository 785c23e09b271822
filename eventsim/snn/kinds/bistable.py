"""Bistable neurons (``bistable``) of BSNN (Li, Zhao and Zeng, Frontiers in Neuroscience 2022,
arXiv 2105.12917) — our reading, since only the paper's abstract could be consulted (docs/bsnn.md
has the reasoning):

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
The output integrates like a layer one stage after the deepest one that feeds it.

The recipe (:func:`bistable_network`): every activation becomes a bistable layer at its pipeline
stage (the neuron layers on the longest path from the input to it, itself included), and synchronous
neurons (:mod:`eventsim.passes.synchronous`) delay the shallower inputs of every join by whole cycles.
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Graph
from ...ir.stages import pipeline_stages
from ...passes.synchronous import insert_synchronous_neurons
from .base import FIRE, IDLE, INTEGRATE, KindNetwork, NeuronKind, layers_from_thresholds


def bistable_rule(v, current, theta, phase):
    """Integrate without firing (:data:`INTEGRATE`), fire without integrating (:data:`FIRE`), or
    wait (:data:`IDLE`); ``phase`` is a scalar or an array."""
    m = v + current * (phase == INTEGRATE)
    spike = (m >= theta) & (phase == FIRE)
    return m - spike * theta, spike


def bistable_phase(t: np.ndarray, period: int, stage: int) -> np.ndarray:
    """Phase of a bistable layer at pipeline ``stage`` in 0-based steps ``t`` (module docstring)."""
    cycle = np.asarray(t) // period
    phase = np.where((cycle - stage) % 2 == 0, FIRE, INTEGRATE)
    return np.where(cycle < stage - 1, IDLE, phase).astype(np.int64)


def bistable_network(graph: Graph, thresholds: dict[str, np.ndarray], period: int, v0: str = "half") -> KindNetwork:
    """A BSNN: synchronous neurons on the joins, every activation a bistable layer at its stage.

    Parameters
    ----------
    graph : Graph
        The ANN.
    thresholds : dict of str to array
        θ per activation node (scalar or per channel).
    period : int
        Steps per cycle.
    v0 : {"half", "zero"}
        Initial membrane potential θ/2 or 0.

    Returns
    -------
    KindNetwork
        With ``meta["bsnn"]``: the period, the number of stages and the synchronous delays.
    """
    synced, delays = insert_synchronous_neurons(graph, period)
    stages = pipeline_stages(synced, period)
    layers = layers_from_thresholds(synced, thresholds, v0, "bistable")
    for name, layer in layers.items():
        layer.period, layer.stage = period, stages[name]
    meta = {
        "v0": v0,
        "bsnn": {
            "period": period,
            "stages": max(layer.stage for layer in layers.values()),
            "synchronous_delays": [d.record() for d in delays],
        },
    }
    return KindNetwork(synced, layers, meta=meta)


class Bistable(NeuronKind):
    """BSNN's bistable neuron (module docstring)."""

    name = "bistable"
    description = "BSNN bistable neuron: integrates for one cycle, then fires for one cycle (reset by subtraction)"
    scheduled = True
    options = {"period": 8}
    rule = staticmethod(bistable_rule)

    def schedule(self, steps, period, stage):
        return bistable_phase(steps, period, stage)

    def output_gate(self, T, period, stage):
        return bistable_phase(np.arange(T), period, stage) == INTEGRATE

    def check_settings(self, settings):
        if settings["v0"] == "optimized" or settings["ftbc"]:
            return (
                "bistable neurons (bsnn) combine with the threshold modes and v0 zero/half, "
                "not with FTBC or v0 optimisation"
            )
        return super().check_settings(settings)

    def build(self, graph, thresholds, settings):
        return bistable_network(graph, thresholds, int(settings["period"]), settings["v0"])
