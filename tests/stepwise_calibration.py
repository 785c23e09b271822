"""Calibration as it ran before the one-pass order: every layer's input currents from a fresh
step-by-step run (``DenseDynamics.step``) of the layers before it, each already calibrated. The
oracle of tests/conversion/test_one_pass_calibration.py and the baseline of bench/calibration.py."""

from __future__ import annotations

import numpy as np

from eventsim.conversion.ftbc import errors_stepwise
from eventsim.conversion.opi import channel_mean
from eventsim.ir.executor import run_ann
from eventsim.snn.dynamics import DenseDynamics


def stepwise_currents(net, x, T: int, layer: str) -> np.ndarray:
    """A layer's input currents in every step, (T, N) + shape, from a fresh step-by-step run."""
    dynamics = DenseDynamics(net, x, T)
    currents = np.zeros((T, len(x)) + net.graph.node(layer).shape, np.float32)
    for t in range(T):
        dynamic, _ = dynamics.step(t, stop_at=layer)
        currents[t] = dynamics.current(layer, dynamic)
    return currents


def stepwise_ftbc(net, x, T: int, alpha=0.4, batches=3, batch_size=200, seed=0) -> None:
    """FTBC's temporal biases, every layer's currents from a fresh prefix run and its errors from the
    NumPy twin of the compiled loop; ``net`` changes in place."""
    order = np.random.default_rng(seed).permutation(len(x))
    chunks = [c for c in (order[i * batch_size : (i + 1) * batch_size] for i in range(batches)) if len(c)]
    nodes = net.graph.activation_nodes()
    bias = {n.name: np.zeros((T, n.shape[0]), np.float32) for n in nodes}
    for chunk in chunks:
        xb = x[np.sort(chunk)]
        _, acts = run_ann(net.graph, xb, record=True)
        for node in nodes:
            currents = stepwise_currents(net, xb, T, node.name)
            errors = errors_stepwise(net, node.name, currents, acts[node.name], T)
            for t in range(T):
                bias[node.name][t] += np.float32(alpha) * channel_mean(errors[t], node, True)
            net.layers[node.name].temporal_bias = -bias[node.name]


def stepwise_opi(net, x, T: int, grid: int = 65) -> None:
    """OPI's optimised v0 per layer (least mean squared rate error on a grid of v0 = f·θ, ties to the
    f nearest 1/2), written out here: the spike count of the layer's rule from each v0 on currents
    from a fresh prefix run; ``net`` changes in place."""
    _, acts = run_ann(net.graph, x, record=True)
    fractions = np.linspace(0, 1, grid, dtype=np.float32)
    for name, layer in net.layers.items():
        currents = stepwise_currents(net, x, T, name)
        theta = net.threshold_array(name)
        errors = []
        for f in fractions:
            v, count = np.broadcast_to(f * theta, currents.shape[1:]).astype(np.float32), 0
            for t in range(T):
                v, spike = layer.spec.rule(v, currents[t], theta, 0)
                count = count + spike
            errors.append(np.mean((theta * np.float32(count) / T - acts[name]) ** 2))
        ties = np.flatnonzero(np.array(errors) <= min(errors))
        f = fractions[ties[np.argmin(np.abs(ties / (grid - 1) - 0.5))]]
        layer.v0 = (f * layer.threshold).astype(np.float32)
