"""Firing thresholds and initial potentials for a graph's neuron layers, and the network they make.

The simple, published baselines live here (ALGORITHMS.md section 1): θ from the largest ANN
activation on calibration data (Diehl et al. 2015) and θ from the model's own bound (Clip/ReLU6 λ,
QCFS λ); v0 = θ/2 (the optimum for uniform error) or 0.
"""

from __future__ import annotations

import math

import numpy as np

from .ann import run_ann
from .errors import DataError, UnsupportedError
from .graph import Graph
from .network import NeuronLayer, SpikingNetwork


def max_thresholds(graph: Graph, x: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """θ per activation layer: the largest activation on ``x`` (at least a tiny positive value)."""
    if len(x) == 0:
        raise DataError("no calibration samples", "pass at least one sample")
    _, acts = run_ann(graph, x, record=True, batch_size=batch_size)
    return {name: max(float(values.max()), 1e-6) for name, values in acts.items()}


def model_thresholds(graph: Graph) -> dict[str, float]:
    """θ per activation layer from the model itself: λ of ``clip(0, λ)`` and of ``qcfs(L, λ)``."""
    out = {}
    for node in graph.activation_nodes():
        if node.op == "qcfs":
            out[node.name] = float(node.attrs["lam"])
        elif node.op == "clip" and node.attrs["lo"] == 0 and math.isfinite(node.attrs["hi"]):
            out[node.name] = float(node.attrs["hi"])
        else:
            raise UnsupportedError(
                f"layer {node.name!r} ({node.op}) has no upper bound to take the threshold from",
                "use thresholds from data (threshold 'max') for models with plain ReLUs",
            )
    return out


def make_network(
    graph: Graph, thresholds: dict[str, float | np.ndarray], v0: str = "half", kind: str = "if"
) -> SpikingNetwork:
    """A spiking network with the given thresholds and initial potentials ``v0`` ('half': θ/2, 'zero').

    Activations whose lower bound is not 0 cannot be spiking layers and are refused.
    """
    if v0 not in ("half", "zero"):
        raise ValueError(f"v0 must be 'half' or 'zero', got {v0!r}")
    for node in graph.activation_nodes():
        if node.op == "clip" and node.attrs["lo"] != 0:
            raise UnsupportedError(
                f"layer {node.name!r} is clip({node.attrs['lo']:g}, {node.attrs['hi']:g}); "
                "a spiking layer needs a lower bound of 0",
                "use ReLU, ReLU6 or clip(0, λ)",
            )
    layers = {}
    for node in graph.activation_nodes():
        theta = np.asarray(thresholds[node.name], np.float32)
        layers[node.name] = NeuronLayer(theta, theta / 2 if v0 == "half" else np.zeros_like(theta), kind)
    return SpikingNetwork(graph, layers, {"v0": v0})
