"""Neuron layers for every activation of a graph: the common first step of every recipe."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..ir.graph import Graph
from ..snn.network import NeuronLayer, SpikingNetwork


def make_network(
    graph: Graph, thresholds: dict[str, float | np.ndarray], v0: str = "half", kind: str = "if"
) -> SpikingNetwork:
    """A spiking network with the given thresholds and initial potentials ``v0`` ('half': θ/2, 'zero').

    Activations that cannot be spiking layers (a clip whose lower bound is not 0) are refused.
    """
    if v0 not in ("half", "zero"):
        raise ValueError(f"v0 must be 'half' or 'zero', got {v0!r}")
    for node in graph.activation_nodes():
        problem = node.spec.spiking_problem(node)
        if problem:
            raise UnsupportedError(
                f"layer {node.name!r} cannot be a spiking layer: {problem}", "use ReLU, ReLU6 or clip(0, λ)"
            )
    layers = {}
    for node in graph.activation_nodes():
        theta = np.asarray(thresholds[node.name], np.float32)
        layers[node.name] = NeuronLayer(theta, theta / 2 if v0 == "half" else np.zeros_like(theta), kind)
    return SpikingNetwork(graph, layers, {"v0": v0})
