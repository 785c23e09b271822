"""Firing thresholds: from the ANN's activations on calibration data, or from the model itself.

- ``max`` (Diehl et al. 2015) and ``percentile`` (Rueckauer et al. 2017) of the ANN activations on
  calibration data, per layer or per channel, streamed over batches;
- ``clip``/``qcfs``: λ of the model's own clip(0, λ) / QCFS bound (the op says it: ``bound``);
- ``auto``: the model's bound where a layer has one, the data maximum elsewhere.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, UnsupportedError
from ..ir.executor import run_ann
from ..ir.graph import Graph, Node
from ..progress import Progress, Tracker

THRESHOLD_MODES = ("max", "percentile", "clip", "qcfs", "auto")


def channel_axes(node: Node) -> tuple[int, ...]:
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
    starts = range(0, len(x), batch_size)
    tracker = Tracker(progress, "thresholds", [min(batch_size, len(x) - start) for start in starts])
    for start in starts:
        _, acts = run_ann(graph, x[start : start + batch_size], record=True, batch_size=batch_size)
        for node in layers:
            a = acts[node.name]
            m = a.max(axis=channel_axes(node)) if per_channel else np.asarray(a.max())
            maxima[node.name] = m if maxima[node.name] is None else np.maximum(maxima[node.name], m)
            if statistic == "percentile":
                if per_channel:
                    per = np.moveaxis(a, 1, 0).reshape(node.shape[0], -1)
                    for c, res in enumerate(reservoirs[node.name]):
                        res.add(per[c][per[c] > 0])
                else:
                    reservoirs[node.name][0].add(a[a > 0])
        tracker.step(f"ANN statistics of {min(start + batch_size, len(x))}/{len(x)} samples")
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


def model_thresholds(graph: Graph, quantised: bool = False) -> dict[str, float]:
    """θ per activation layer from the model itself: λ of ``clip(0, λ)`` and of ``qcfs(L, λ)``.

    With ``quantised``, only quantised activations (QCFS, whose op gives its levels L) are accepted.
    Layers without a bound are refused.
    """
    out = {}
    for node in graph.activation_nodes():
        bound = node.spec.bound(node)
        if bound is None or (quantised and node.spec.levels(node) is None):
            what = "quantised (QCFS) activation" if quantised else "upper bound"
            raise UnsupportedError(
                f"layer {node.name!r} ({node.op}) has no {what} to take the threshold from",
                "use thresholds from data ('max' or 'percentile') for models with plain ReLUs",
            )
        out[node.name] = bound
    return out
