"""``convert``: from an imported ANN graph to a spiking network.

This is the quick path of the baselines (thresholds from data or from the model's bounds,
v0 = θ/2 or 0); calibration presets (OPI, FTBC, ...) build on it.
"""

from __future__ import annotations

import numpy as np

from .calibration import make_network, max_thresholds, model_thresholds
from .data import check_batch
from .errors import DataError
from .graph import Graph
from .network import SpikingNetwork

THRESHOLDS = ("max", "clip")


def convert(
    graph: Graph, calib_x: np.ndarray | None = None, threshold: str = "max", v0: str = "half"
) -> SpikingNetwork:
    """Turn ``graph`` into a spiking network.

    Parameters
    ----------
    graph : Graph
        An imported ANN.
    calib_x : numpy.ndarray, optional
        Calibration inputs, needed for ``threshold="max"``.
    threshold : {"max", "clip"}
        ``max``: θ of each layer is its largest activation on ``calib_x``; ``clip``: θ is the
        model's own bound (Clip/ReLU6 λ, QCFS λ).
    v0 : {"half", "zero"}
        Initial membrane potential θ/2 or 0.
    """
    if threshold not in THRESHOLDS:
        raise ValueError(f"unknown threshold mode {threshold!r}; use one of {', '.join(THRESHOLDS)}")
    if threshold == "max":
        if calib_x is None:
            raise DataError("threshold 'max' needs calibration data", "pass calibration inputs (--calib FILE)")
        thresholds = max_thresholds(graph, check_batch(calib_x, graph.input_shape, "calibration data"))
    else:
        thresholds = model_thresholds(graph)
    net = make_network(graph, thresholds, v0)
    net.meta.update({"threshold": threshold, "calibration_samples": 0 if calib_x is None else len(calib_x)})
    return net
