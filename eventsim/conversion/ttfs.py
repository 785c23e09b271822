"""TTFS conversion: a ReLU/clip network as single-spike time-to-first-spike neurons.

The mapping is the constant-slope one of Stanojevic et al. ("High-performance deep spiking neural
networks with 0.3 spikes per neuron", Nature Communications 2024; "An exact mapping from ReLU networks
to spiking neural networks", Neural Networks 2023), in discrete time with windows of K steps
(docs/ttfs.md; the neuron is :mod:`eventsim.snn.kinds.ttfs`):

- layer n (its stage: neuron layers from the input, itself included) integrates in window n − 1 and
  fires at most once in window n; its spikes carry δ_n = λ_n/K for its bound λ_n (the clip/QCFS bound
  or a data-based threshold); a spike ``K + 1 − m`` steps into the window stands for δ_n·m;
- the initial potential holds everything constant once: v0 = S − δ_n/2 − S·K(K+1)/2, with S the
  constant current the neuron receives every step (bias, the input normalisation's shift through the
  first layer, border terms of padded convolutions), which the window's integration adds K(K+1)/2
  times;
- so every neuron emits ``m = clip(floor(z/δ_n + 1/2), 0, K)`` as its spike time: the network
  computes, exactly, the ANN whose activations are the quantiser λ/K·clip(floor(zK/λ + 1/2), 0, K)
  (QCFS with L = K) on the input quantised to K levels by the TTFS input coding;
- joins of different stages get synchronous delays of whole windows; max pooling is exact (on
  cumulative counts the pool spikes once, at its earliest input, which carries the largest value)
  and average pooling is linear;
- the output integrates like a TTFS neuron one stage later: temporal decoding with weights "steps
  left in its window", the bias once (``SpikingNetwork(decoding="temporal")``).
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.stages import pipeline_stages
from ..passes.synchronous import insert_synchronous_neurons
from ..snn.network import SpikingNetwork
from ..snn.split import dynamic_nodes, shared_static
from .layers import make_network


def ttfs_network(graph: Graph, bounds: dict[str, np.ndarray], window: int) -> SpikingNetwork:
    """The TTFS network of ``graph`` (module docstring).

    Parameters
    ----------
    graph : Graph
        The ANN (activations with lower bound 0).
    bounds : dict of str to array
        λ per activation node, scalar or per channel: the value a spike at the first step of the
        window stands for.
    window : int
        K, steps per window; T = K × (deepest stage + 1) shows the full result.

    Returns
    -------
    SpikingNetwork
        With ``meta["ttfs"]``: the window, the number of stages, the steps of a full run and the
        synchronous delays.
    """
    synced, delays = insert_synchronous_neurons(graph, window)
    stages = pipeline_stages(synced, window)
    delta = {name: np.asarray(bound, np.float32) / np.float32(window) for name, bound in bounds.items()}
    net = make_network(synced, delta, "zero")
    for name, layer in net.layers.items():
        layer.kind, layer.period, layer.stage = "ttfs", window, stages[name]
    shared = shared_static(synced, dynamic_nodes(synced, spiking_input=True))
    for node in synced.activation_nodes():
        constant = shared[node.inputs[0]][0].astype(np.float64)
        half = net.threshold_array(node.name).astype(np.float64) / 2
        net.layers[node.name].v0 = (constant - half - constant * (window * (window + 1) / 2)).astype(np.float32)
    net.decoding = "temporal"
    net.validate()
    deepest = max(layer.stage for layer in net.layers.values())
    net.meta["ttfs"] = {
        "window": window,
        "stages": deepest,
        "steps": window * (deepest + 1),
        "synchronous_delays": [{"after": d.source, "before": d.target, "steps": d.steps} for d in delays],
    }
    return net
