"""The network a training run starts from: a SpikingNetwork as given, or one made of a graph (an
imported ONNX model whose weights are the initialisation, or freshly initialised weights)."""

from __future__ import annotations

import copy

import numpy as np

from ..errors import UnsupportedError
from ..ir.graph import Graph
from ..snn.kinds.base import layers_from_thresholds
from ..snn.network import SpikingNetwork

INITS = ("model", "random")
#: The neuron kinds a network made of a graph can have: the leaky family the trainer differentiates.
KINDS_MADE = ("if", "lif", "single_spike")


def initialise(graph: Graph, seed: int, clock_free: bool = False) -> None:
    """Fresh weights and biases for every weighted node, in place: uniform in ±1/√fan-in (PyTorch's
    default for linear and convolutional layers, so a spiking layer with θ = 1 starts in the range
    where its neurons fire).

    ``clock_free`` (single-spike networks): biases start at 0 and the input normalisation becomes
    the identity. A constant current enters a neuron in every step while a TTFS-coded input element
    sends one spike of amplitude 1/T: drawn like the weights, biases (and the normalisation's shift,
    a constant current through the first layer) would make the neurons fire by the clock, whatever
    the input — the "information diminishing" of single-spike networks. The biases still train.
    """
    rng = np.random.default_rng([seed, 0x1A17])
    for node in graph.nodes:
        if node.spec.role == "input" and clock_free:
            node.params = {"scale": np.ones_like(node.params["scale"]), "shift": np.zeros_like(node.params["shift"])}
        if not node.spec.trainable_params:
            continue
        w = node.params["W"]
        bound = 1.0 / np.sqrt(max(1, int(np.prod(w.shape[1:]))))
        node.params["W"] = rng.uniform(-bound, bound, w.shape).astype(np.float32)
        b = rng.uniform(-bound, bound, node.params["b"].shape).astype(np.float32)
        node.params["b"] = np.zeros_like(b) if clock_free else b


def scale_to_fire(net: SpikingNetwork, x: np.ndarray, T: int, encoding: str, rounds: int = 3) -> dict[str, float]:
    """Rescale freshly drawn weights layer by layer, in place, so that on ``x`` the median neuron of
    every layer just reaches its threshold: the peak of its membrane over the T steps equals θ.

    Random weights scaled only by the fan-in leave a spike-coded network silent (latency coding
    sends each input once: with weights of ±1/√784 no membrane comes near θ = 1), and a silent layer
    gets no gradient from any estimator. A layer's membrane grows with the weights of the node that
    feeds it, so each round multiplies those weights by θ / (median peak) (the data-driven
    initialisation of ANNs, LSUV, with the firing threshold as its target). Returns the factors.

    Single-spike layers take the median of the peak over the steps over the (sample, neuron) pairs
    whose membrane rises above 0 at all (the others cannot fire at any scale): so that a neuron
    fires for about half of the samples it can fire for, against the two failures of TTFS networks —
    deep layers that never reach θ inside the window (information diminishing) and membranes far
    above or below θ (an imbalanced distribution). Without biases (their initialisation) a layer's
    membrane is linear in the weights that feed it, so the factor is exact for that layer given the
    layers before it; hence depth order, one layer at a time."""
    from .estimators import surrogate
    from .forward import forward

    factors = {}
    for name in net.layer_names:
        source = net.graph.node(net.graph.node(name).inputs[0])
        if not source.spec.trainable_params:
            continue
        factor = 1.0
        for _ in range(rounds):
            tape = forward(net, x, T, surrogate("rectangle"), encoding=encoding, sparse=False)
            trace = tape.layers[name]
            v = (trace.u + trace.theta).reshape(T, len(x), -1)
            peaks = v.max(axis=0) / trace.theta  # (N, n)
            if net.layers[name].kind == "single_spike":
                # pairs whose membrane never rises above 0 (no input spike reaches them, or only
                # inhibiting ones; no bias) cannot fire at any scale: the median is over the others
                can = peaks > 0
                peak = np.median(peaks[can]) if can.any() else np.nan
            else:
                peak = np.median(peaks.max(axis=0))
            step = float(np.clip(1.0 / peak, 0.1, 10.0)) if np.isfinite(peak) and peak > 0 else 10.0
            source.params["W"] *= np.float32(step)
            source.params["b"] *= np.float32(step)
            factor *= step
        factors[name] = factor
    return factors


def training_network(
    model: Graph | SpikingNetwork,
    *,
    kind: str = "lif",
    leak: float = 0.9,
    reset: str = "subtract",
    threshold: float = 1.0,
    init: str = "model",
    decoding: str = "sum",
    seed: int = 0,
) -> SpikingNetwork:
    """A copy of ``model`` ready to train (the caller's model is never changed).

    Parameters
    ----------
    model : Graph or SpikingNetwork
        A graph gets a layer of ``kind`` neurons per activation (threshold ``threshold``, v0 = 0, and
        for LIF ``leak`` and ``reset``; ``single_spike``: the integrate-and-fire neuron of TTFS
        training, without leak); a network keeps its neurons.
    init : {"model", "random"}
        Keep the model's weights as the initialisation, or draw fresh ones (:func:`initialise`).
    decoding : {"sum", "temporal"}
        The output decoding of a network made of a graph.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if isinstance(model, SpikingNetwork):
        net = copy.deepcopy(model)
    elif isinstance(model, Graph):
        if kind not in KINDS_MADE:
            raise UnsupportedError(
                f"the trainer makes {', '.join(map(repr, KINDS_MADE))} layers, not {kind!r}",
                "pass kind='lif', 'if' or 'single_spike'",
            )
        graph = copy.deepcopy(model)
        layers = layers_from_thresholds(graph, {n.name: threshold for n in graph.activation_nodes()}, "zero", kind)
        if kind == "lif":
            for layer in layers.values():
                layer.leak, layer.reset = float(leak), reset
        net = SpikingNetwork(graph, layers, {"method": "trained"}, decoding)
    else:
        raise TypeError(f"train needs a Graph or a SpikingNetwork, got {type(model).__name__}")
    if init == "random":
        initialise(net.graph, seed, clock_free=any(x.kind == "single_spike" for x in net.layers.values()))
    for node in net.graph.nodes:  # the trainer updates params in place: make them its own float32 arrays
        node.params = {key: np.array(value, np.float32) for key, value in node.params.items()}
    for layer in net.layers.values():
        layer.threshold, layer.v0 = np.array(layer.threshold, np.float32), np.array(layer.v0, np.float32)
        if layer.temporal_bias is not None:
            layer.temporal_bias = np.array(layer.temporal_bias, np.float32)
    return net
