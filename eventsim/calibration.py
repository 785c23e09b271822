"""Calibration of a graph's neuron layers: firing thresholds, initial potentials, temporal biases.

The methods of ALGORITHMS.md sections 1–3:

- thresholds (section 1): ``max`` (Diehl et al. 2015) and ``percentile`` (Rueckauer et al. 2017) of
  the ANN activations on calibration data, per layer or per channel, streamed over batches;
  ``clip``/``qcfs``: λ of the model's own clip(0, λ) / QCFS bound; ``auto``: the model's bound where a
  layer has one, the data maximum elsewhere.
- initial potentials (section 2, OPI, Bu et al. AAAI 2022): 0, θ/2, or per layer/channel the v0 in
  [0, θ] that minimises the squared rate error at the target T, found layer by layer with the layers
  before already converted.
- temporal biases (section 3, FTBC, Wu et al. ECCV 2024): forward-only, layer by layer, per channel
  and step, as in the authors' code (``bias_corr_step_by_step``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .ann import run_ann
from .errors import DataError, UnsupportedError
from .graph import Graph, Node
from .network import NeuronLayer, SpikingNetwork, per_neuron

THRESHOLD_MODES = ("max", "percentile", "clip", "qcfs", "auto")
V0_MODES = ("zero", "half", "optimized")

Progress = Callable[[str], None] | None


def _channel_axes(node: Node) -> tuple[int, ...]:
    """Axes to reduce for per-channel statistics of a batch (N,) + node.shape."""
    return (0,) + tuple(range(2, len(node.shape) + 1))


class _Reservoir:
    """Up to ``capacity`` values, a uniform sample of everything added (exact while it fits)."""

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.rng = rng
        self.values = np.empty(0, np.float32)
        self.seen = 0

    def add(self, values: np.ndarray) -> None:
        values = values.astype(np.float32, copy=False)
        room = self.capacity - len(self.values)
        if room > 0:
            self.values = np.concatenate([self.values, values[:room]])
            self.seen += min(room, len(values))
            values = values[room:]
        if len(values):
            # reservoir sampling, vectorised: item i (counted from 1) is kept with probability capacity / i
            index = self.seen + 1 + np.arange(len(values))
            keep = self.rng.random(len(values)) < self.capacity / index
            slots = self.rng.integers(0, self.capacity, int(keep.sum()))
            self.values[slots] = values[keep]
            self.seen += len(values)

    @property
    def exact(self) -> bool:
        return self.seen <= self.capacity


def data_thresholds(
    graph: Graph,
    x: np.ndarray,
    statistic: str = "max",
    per_channel: bool = False,
    percentile: float = 99.99,
    batch_size: int = 256,
    max_values: int = 2**22,
    seed: int = 0,
    progress: Progress = None,
) -> dict[str, np.ndarray]:
    """θ per activation layer from the ANN's activations on ``x``, streamed over batches.

    Parameters
    ----------
    statistic : {"max", "percentile"}
        The largest activation, or the ``percentile``-th percentile of the positive activations.
    per_channel : bool
        One θ per output channel (per neuron for dense layers) instead of one per layer.
    max_values : int
        Positive activations kept per layer for percentiles. Up to this many the percentile is
        exact; beyond it, it is the percentile of a uniform random sample of that size (seeded).

    Returns
    -------
    dict of str to numpy.ndarray
        θ, scalar or (C,), at least 1e-6 (a layer that never fires gets a tiny threshold).
    """
    if statistic not in ("max", "percentile"):
        raise ValueError(f"unknown threshold statistic {statistic!r}")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if len(x) == 0:
        raise DataError("no calibration samples", "pass at least one sample")
    rng = np.random.default_rng(seed)
    layers = graph.activation_nodes()
    maxima = {n.name: None for n in layers}
    reservoirs: dict[str, list[_Reservoir]] = {}
    for n in layers:
        count = n.shape[0] if per_channel else 1
        reservoirs[n.name] = [_Reservoir(max(1, max_values // count), rng) for _ in range(count)]
    for start in range(0, len(x), batch_size):
        _, acts = run_ann(graph, x[start : start + batch_size], record=True, batch_size=batch_size)
        for node in layers:
            a = acts[node.name]
            m = a.max(axis=_channel_axes(node)) if per_channel else np.asarray(a.max())
            maxima[node.name] = m if maxima[node.name] is None else np.maximum(maxima[node.name], m)
            if statistic == "percentile":
                if per_channel:
                    per = np.moveaxis(a, 1, 0).reshape(node.shape[0], -1)
                    for c, res in enumerate(reservoirs[node.name]):
                        res.add(per[c][per[c] > 0])
                else:
                    reservoirs[node.name][0].add(a[a > 0])
        if progress:
            progress(f"thresholds: {min(start + batch_size, len(x))}/{len(x)} samples")
    out = {}
    for node in layers:
        if statistic == "max":
            theta = maxima[node.name]
        else:
            theta = np.array(
                [np.percentile(r.values, percentile) if len(r.values) else 0.0 for r in reservoirs[node.name]],
                np.float32,
            )
            theta = theta if per_channel else theta.reshape(())
        out[node.name] = np.maximum(np.asarray(theta, np.float32), np.float32(1e-6))
    return out


def model_thresholds(graph: Graph, only: str | None = None) -> dict[str, float]:
    """θ per activation layer from the model itself: λ of ``clip(0, λ)`` and of ``qcfs(L, λ)``.

    ``only="qcfs"`` accepts QCFS layers only. Layers without a bound are refused.
    """
    out = {}
    for node in graph.activation_nodes():
        bound = model_bound(node)
        if bound is None or (only == "qcfs" and node.op != "qcfs"):
            what = "QCFS activation" if only == "qcfs" else "upper bound"
            raise UnsupportedError(
                f"layer {node.name!r} ({node.op}) has no {what} to take the threshold from",
                "use thresholds from data ('max' or 'percentile') for models with plain ReLUs",
            )
        out[node.name] = bound
    return out


def model_bound(node: Node) -> float | None:
    """λ of a clip(0, λ) or QCFS layer, None for other activations."""
    if node.op == "qcfs":
        return float(node.attrs["lam"])
    if node.op == "clip" and node.attrs["lo"] == 0 and math.isfinite(node.attrs["hi"]):
        return float(node.attrs["hi"])
    return None


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


def _layer_currents(net: SpikingNetwork, x: np.ndarray, T: int, layer: str) -> np.ndarray:
    """Input currents of ``layer`` in every step (T, N) + shape, from the reference engine, with the
    layers before it as they are in ``net`` and without the layer's own temporal bias."""
    from .engines.plan import Plan
    from .engines.reference import run_reference

    return run_reference(Plan.build(net, "direct"), x, T, 0, 0, (), tap=layer)["currents"]


def _channel_mean(values: np.ndarray, node: Node, per_channel: bool) -> np.ndarray:
    """Mean over samples and positions, per channel (C,) or for the whole layer ()."""
    return values.mean(axis=_channel_axes(node)) if per_channel else np.asarray(values.mean())


def optimize_v0(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    per_channel: bool = False,
    grid: int = 65,
    progress: Progress = None,
) -> None:
    """OPI: set each layer's v0 to the value in [0, θ] with the least squared rate error at T.

    Layer by layer from the input, each with the layers before it already set: the layer's input
    currents over T steps are recorded, every candidate v0 on a grid of ``grid`` points is
    simulated on them, and the candidate with the least mean squared difference between the rate
    θ·N_T/T and the ANN activation wins (ties: the one nearest θ/2, the optimum under the uniform
    assumption). Modifies ``net`` in place.
    """
    _, acts = run_ann(net.graph, x, record=True)
    fractions = np.linspace(0.0, 1.0, grid, dtype=np.float32)
    for node in net.graph.activation_nodes():
        layer = net.layers[node.name]
        currents = _layer_currents(net, x, T, node.name)
        theta = net.threshold_array(node.name)
        target = acts[node.name]
        errors = []
        for f in fractions:
            v = np.broadcast_to(f * theta, currents.shape[1:]).astype(np.float32)
            count = np.zeros(currents.shape[1:], np.float32)
            for t in range(T):
                v = v + currents[t]
                spike = v >= theta
                v = v - spike * theta
                count += spike
            errors.append(_channel_mean((theta * count / T - target) ** 2, node, per_channel))
        errors = np.stack(errors)  # (grid,) or (grid, C)
        best = np.min(errors, axis=0)
        # among the minimisers, the one closest to θ/2
        distance = np.abs(fractions - 0.5).reshape((-1,) + (1,) * (errors.ndim - 1))
        choice = np.argmin(np.where(errors <= best, distance, np.inf), axis=0)
        fraction = fractions[choice]
        if per_channel:
            layer.v0 = (fraction * per_channel_array(layer.threshold, node)).astype(np.float32)
        else:
            layer.v0 = (np.float32(fraction) * layer.threshold).astype(np.float32)
        if progress:
            progress(f"OPI v0: layer {node.name}")


def calibrate_ftbc(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    alpha: float = 0.4,
    batches: int = 3,
    batch_size: int = 200,
    seed: int = 0,
    progress: Progress = None,
) -> None:
    """FTBC: per channel and step, temporal biases that drive the SNN's error toward zero.

    For each calibration batch and each layer from the input (layers before already corrected in
    this batch), with the layer's input currents Z(t) and ANN activation a, from v = v0:
    ``m = v + Z(t); e = θ·H(m − θ) − a; b[t] += α · mean_{batch, positions}(e);
    m' = m − e; v = m' − θ·H(m' − θ)``. The bias is subtracted from the membrane, so the network's
    temporal bias current is β(t) = −b[t]. As in the authors' code, the error of a batch does not
    include the layer's own bias from earlier batches. Modifies ``net`` in place; the network
    records the T it was calibrated for.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    chunks = [order[i * batch_size : (i + 1) * batch_size] for i in range(batches)]
    chunks = [c for c in chunks if len(c)]
    nodes = net.graph.activation_nodes()
    bias = {n.name: np.zeros((T, n.shape[0]), np.float32) for n in nodes}
    for k, chunk in enumerate(chunks):
        xb = x[np.sort(chunk)]
        _, acts = run_ann(net.graph, xb, record=True)
        for node in nodes:
            layer = net.layers[node.name]
            currents = _layer_currents(net, xb, T, node.name)
            theta = net.threshold_array(node.name)
            v = np.broadcast_to(net.v0_array(node.name), currents.shape[1:]).astype(np.float32)
            target = acts[node.name]
            for t in range(T):
                m = v + currents[t]
                error = theta * (m >= theta) - target
                bias[node.name][t] += np.float32(alpha) * _channel_mean(error, node, True)
                m = m - error
                v = m - theta * (m >= theta)
            layer.temporal_bias = -bias[node.name]
            if progress:
                progress(f"FTBC: batch {k + 1}/{len(chunks)}, layer {node.name}")
    net.meta["ftbc_calibration"] = {
        "T": T,
        "alpha": alpha,
        "batches": len(chunks),
        "batch_size": batch_size,
        "seed": seed,
    }


def per_channel_array(value: np.ndarray, node: Node) -> np.ndarray:
    """A scalar or per-channel parameter as one value per channel (C,)."""
    return per_neuron(value, node.shape).reshape(node.shape[0], -1)[:, 0]
