"""The input currents a layer receives in every step: what OPI and FTBC fit their parameters to."""

from __future__ import annotations

import numpy as np

from ..snn.dynamics import DenseDynamics
from ..snn.network import SpikingNetwork


def layer_currents(net: SpikingNetwork, x: np.ndarray, T: int, layer: str) -> np.ndarray:
    """Input currents of neuron layer ``layer`` in every step, (T, N) + shape, with the layers before
    it as they are in ``net`` (direct coding) and without the layer's own temporal bias."""
    dynamics = DenseDynamics(net, x, T)
    currents = np.zeros((T, len(x)) + net.graph.node(layer).shape, np.float32)
    for t in range(T):
        dynamic, _ = dynamics.step(t, stop_at=layer)
        currents[t] = dynamics.current(layer, dynamic)
    return currents
