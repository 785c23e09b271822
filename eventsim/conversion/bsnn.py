"""BSNN (Li, Zhao and Zeng, "BSNN: Towards faster and better conversion of artificial neural networks
to spiking neural networks with bistable neurons", arXiv 2105.12917, Frontiers in Neuroscience 2022).

Only the paper's abstract could be consulted; what is implemented is the reading in docs/bsnn.md,
which says for every choice whether it comes from the abstract or is ours: every activation becomes a
layer of bistable neurons (:mod:`eventsim.snn.kinds.bistable`) at its pipeline stage, and synchronous
neurons (:mod:`eventsim.passes.synchronous`) delay the shallower inputs of every join.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.stages import pipeline_stages
from ..passes.synchronous import insert_synchronous_neurons
from ..snn.network import SpikingNetwork
from .layers import make_network


def bistable_network(graph: Graph, thresholds: dict[str, np.ndarray], period: int, v0: str = "half") -> SpikingNetwork:
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
    SpikingNetwork
        With ``meta["bsnn"]``: the period, the number of stages and the synchronous delays.
    """
    synced, delays = insert_synchronous_neurons(graph, period)
    stages = pipeline_stages(synced, period)
    net = make_network(synced, thresholds, v0)
    for name, layer in net.layers.items():
        layer.kind, layer.period, layer.stage = "bistable", period, stages[name]
    net.validate()
    net.meta["bsnn"] = {
        "period": period,
        "stages": max(layer.stage for layer in net.layers.values()),
        "synchronous_delays": [{"after": d.source, "before": d.target, "steps": d.steps} for d in delays],
    }
    return net
