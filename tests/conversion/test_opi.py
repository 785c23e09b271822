"""OPI: the rate error of v0 = θ/2 and v0 = 0 against its closed forms, and the optimised v0."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder

import eventsim
from eventsim.snn.network import NeuronLayer, SpikingNetwork


def identity_layer(size: int, theta: float, v0: float) -> SpikingNetwork:
    """input (F) → dense I → IF neurons (θ, v0) → dense: the neurons' current is the input itself."""
    rng = np.random.default_rng(0)
    b = NetBuilder(rng, (size,), normalise=False)
    b.add("dense", ["x"], {}, {"W": np.eye(size, dtype=np.float32), "b": np.zeros(size, np.float32)})
    b.relu(b.current)
    b.dense(b.current, 2)
    graph = b.graph()
    name = graph.activation_nodes()[0].name
    return SpikingNetwork(graph, {name: NeuronLayer(np.float32(theta), np.float32(v0))})


def rate_errors(T: int, theta: float, fraction: float, per_interval: int = 64) -> tuple[float, float]:
    """Mean and mean square of r(T) − z over z/θ uniform on [0, 1], integrated exactly for the
    steps: a midpoint grid with the same number of points in every interval where N_T is constant."""
    m = per_interval * 2 * T
    z = (theta * (np.arange(m) + 0.5) / m).astype(np.float32)
    net = identity_layer(m, theta, fraction * theta)
    rec = eventsim.simulate(net, z[None], T)
    counts = rec.neuron_counts[net.graph.activation_nodes()[0].name]
    error = theta * counts / T - z
    return float(error.mean()), float((error.astype(np.float64) ** 2).mean())


@settings(max_examples=12)
@given(T=st.integers(1, 32), theta=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_opi_expected_error_and_mse(T, theta):
    mean_half, mse_half = rate_errors(T, theta, 0.5)
    mean_zero, mse_zero = rate_errors(T, theta, 0.0)
    assert mean_half == pytest.approx(0.0, abs=1e-4 * theta)
    assert mean_zero == pytest.approx(-theta / (2 * T), rel=1e-3)
    assert mse_half == pytest.approx(theta**2 / (12 * T**2), rel=1e-3)
    assert mse_zero == pytest.approx(theta**2 / (3 * T**2), rel=1e-3)


@settings(max_examples=6)
@given(T=st.integers(1, 16))
def test_half_threshold_minimises_the_mse(T):
    fractions = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]
    mse = [rate_errors(T, 1.0, f, per_interval=16)[1] for f in fractions]
    assert int(np.argmin(mse)) == fractions.index(0.5)
    assert all(m > mse[4] for i, m in enumerate(mse) if i != 4)


def test_optimised_v0_is_in_range_and_not_worse(digits):
    graph, data = digits
    x = data["x_calib"][:128]
    T = 4
    half = eventsim.convert(graph, x, "opi")
    opt = eventsim.convert(graph, x, "opi-opt", T=T, per_channel=True)
    for node in graph.activation_nodes():
        v0, theta = opt.v0_array(node.name), opt.threshold_array(node.name)
        assert np.all((v0 >= 0) & (v0 <= theta))
    # the first layer's error is what OPI minimises directly (later layers see different inputs)
    first = graph.activation_nodes()[0].name
    _, acts = eventsim.run_ann(graph, x, record=True)

    def first_layer_mse(net):
        rec = eventsim.simulate(net, x, T, raster_samples=range(len(x)))
        counts = np.stack([rec.rasters[i][first].sum(axis=0) for i in range(len(x))])
        return float(np.mean((net.threshold_array(first) * counts / T - acts[first]) ** 2))

    assert first_layer_mse(opt) <= first_layer_mse(half) + 1e-7
