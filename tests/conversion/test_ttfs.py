"""TTFS: input coding, single-spike neurons, the exact mapping of a ReLU network, temporal decoding."""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid, random_networks, single_layer

import eventsim
from eventsim import Graph
from eventsim.examples import example_model_path, load_example_data
from eventsim.snn.kinds.ttfs import ttfs_network
from eventsim.snn.network import SpikingNetwork


def _quantised_ann(graph: Graph, net, window: int) -> Graph:
    """The ANN the TTFS network computes: each activation replaced by QCFS with L = K and its bound."""
    nodes = []
    for node in graph.nodes:
        if node.spec.role == "activation":
            theta = net.layers[node.name].threshold
            bound = float(theta) * window if theta.ndim == 0 else None
            if bound is None:
                return None  # per-channel bounds: QCFS has one λ per layer
            node = node.copy(op="qcfs", attrs={"levels": window, "lam": bound}, params={})
        nodes.append(node)
    return Graph(nodes, graph.output)


def _grid_bounds(graph: Graph, rng, window: int) -> dict[str, np.ndarray]:
    """λ on a grid such that δ = λ/K is a power of two (exact sums)."""
    out = {}
    for node in graph.activation_nodes():
        per_channel = rng.random() < 0.3
        exponent = rng.integers(-3, 1, size=(node.shape[0],) if per_channel else ())
        out[node.name] = (2.0**exponent * window).astype(np.float32)
    return out


@settings(max_examples=60)
@given(
    case=random_networks(),
    window=st.sampled_from([1, 2, 4, 8]),
    extra=st.integers(0, 6),
    engine=st.sampled_from(ENGINE_VARIANTS),
)
def test_engines_agree_and_each_neuron_spikes_at_most_once(case, window, extra, engine):
    net, x = case
    rng = np.random.default_rng(window)
    tnet = SpikingNetwork.from_kind(ttfs_network(net.graph, _grid_bounds(net.graph, rng, window), window))
    T = window * (max(layer.stage for layer in tnet.layers.values()) + 1) + extra
    runs = [
        simulate_with(e, tnet, x, T, encoding="ttfs", raster_samples=range(len(x)), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)
    for i in range(len(x)):
        for name, raster in runs[0].rasters[i].items():
            assert raster.sum(axis=0).max(initial=0) <= 1, name  # after average pools and joins too


@settings(max_examples=60)
@given(case=random_networks(), window=st.sampled_from([2, 4, 8]))
def test_the_network_computes_the_quantised_ann_exactly(case, window):
    """Output at T = K·(stages + 1) = the ANN with QCFS(L = K, λ) activations on the input quantised to K
    levels — through convolutions, pools (max on cumulative counts, average), residual adds, concats."""
    net, x = case
    rng = np.random.default_rng(window + 1)
    bounds = _grid_bounds(net.graph, rng, window)
    bounds = {k: np.float32(v.flat[0]) for k, v in bounds.items()}  # one λ per layer for the QCFS oracle
    tnet = SpikingNetwork.from_kind(ttfs_network(net.graph, bounds, window))
    T = window * (max(layer.stage for layer in tnet.layers.values()) + 1)
    rec = eventsim.simulate(tnet, x, T, encoding="ttfs")
    quantised_x = np.clip(np.floor(window * x.astype(np.float64) + 0.5), 0, window) / window
    expected = eventsim.run_ann(_quantised_ann(net.graph, tnet, window), quantised_x.astype(np.float32))
    np.testing.assert_allclose(rec.outputs[:, -1], expected.reshape(len(x), -1), rtol=0, atol=1e-4)


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), window=st.integers(1, 10))
def test_spike_time_of_a_single_layer_is_the_closed_form(seed, window):
    """Neuron with pre-activation z fires K + 1 − m steps into window 1, m = clip(floor(z/δ + 1/2), 0, K),
    and not at all when m = 0 (every z ≤ 0)."""
    rng = np.random.default_rng(seed)
    graph = single_layer(rng, 6, 8, 1.0, 0.5).graph
    delta = np.float32(2.0 ** rng.integers(-3, 1))
    tnet = SpikingNetwork.from_kind(ttfs_network(graph, {graph.nodes[2].name: delta * window}, window))
    x = grid(rng, (3, 6), 0.0, 1.0, 0.125)
    T = 2 * window
    rec = eventsim.simulate(tnet, x, T, encoding="ttfs", raster_samples=range(3))
    dense = graph.nodes[1]
    x_hat = np.clip(np.floor(window * x.astype(np.float64) + 0.5), 0, window) / window
    z = x_hat @ dense.params["W"].T + dense.params["b"]
    m = np.clip(np.floor(z / delta + 0.5), 0, window)
    expected = np.where(m > 0, window + window + 1 - m, 0)
    raster = np.stack([rec.rasters[i][graph.nodes[2].name] for i in range(3)])
    step = np.where(raster.any(axis=1), np.argmax(raster, axis=1) + 1, 0)
    if window & (window - 1) == 0:  # K a power of two: every sum is exact, so is the spike time
        np.testing.assert_array_equal(step, expected)
    else:  # 1/K is rounded: a neuron on a level boundary may fire one step off
        fired = np.where(step > 0, 2 * window + 1 - step, 0)
        assert np.abs(fired - m).max() <= 1
    assert not raster[:, :window].any()  # nothing fires while its inputs are still arriving


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 12), weights=st.lists(st.integers(-4, 4), min_size=1, max_size=14))
def test_temporal_decoding_is_linear_in_the_per_step_outputs(seed, T, weights):
    """o_w(T) = b + Σ_t w_t (I_out(t) − b), with I_out(t) the per-step output of plain accumulation."""
    rng = np.random.default_rng(seed)
    net = single_layer(rng, 5, 6, 0.5, 0.25)
    x = grid(rng, (2, 5), 0.0, 1.0, 0.125)
    plain = eventsim.simulate(net, x, T, encoding="rate", seed=1)
    net.decoding, net.decode_weights = "temporal", np.array(weights, np.float32) / 2
    weighted = eventsim.simulate(net, x, T, encoding="rate", seed=1)
    bias = net.graph.nodes[-1].params["b"].astype(np.float64)
    per_step = np.diff(plain.outputs.astype(np.float64), axis=1, prepend=0) - bias
    w = np.zeros(T)
    w[: min(T, len(weights))] = (np.array(weights) / 2)[:T]
    expected = bias + np.cumsum(w[None, :, None] * per_step, axis=1)
    np.testing.assert_allclose(weighted.outputs, expected, rtol=0, atol=1e-5)


def test_ttfs_preset_on_the_bundled_models(tmp_path):
    graph = eventsim.load_onnx(example_model_path())
    data = load_example_data()
    net = eventsim.convert(graph, data["x_calib"], "ttfs", window=8)
    steps = net.meta["ttfs"]["steps"]
    assert steps == 8 * 4 and net.decoding == "temporal"
    net.save(tmp_path / "t.npz")
    net = eventsim.SpikingNetwork.load(tmp_path / "t.npz")
    x, y = data["x_test"][:150], data["y_test"][:150]
    rec = eventsim.simulate(net, x, steps, encoding="ttfs")
    ann = np.mean(np.argmax(eventsim.run_ann(graph, x), axis=1) == y)
    assert rec.accuracy(y)[-1] >= ann - 0.02
    assert rec.spikes_per_sample.sum(axis=1).mean() / rec.neurons.sum() < 0.5
    assert max(c.max() for c in rec.neuron_counts.values()) <= len(x)
    with pytest.raises(eventsim.DataError, match="ttfs"):
        eventsim.simulate(net, x, steps, encoding="direct")
    # without an encoding the network's own is used
    np.testing.assert_array_equal(eventsim.simulate(net, x, steps).outputs, rec.outputs)
    for bad in ({"ftbc": True}, {"v0": "zero"}, {"window": 0}):
        with pytest.raises(ValueError):
            eventsim.convert(graph, data["x_calib"], "ttfs", T=8, **bad)
    qcfs = eventsim.load_onnx(example_model_path("mnist_qcfs"))
    mnist = load_example_data("mnist")
    qnet = eventsim.convert(qcfs, None, "ttfs", window=8)  # λ from the QCFS bound: no data needed
    xq = mnist["x_test"][:100]
    rec = eventsim.simulate(qnet, xq, qnet.meta["ttfs"]["steps"], encoding="ttfs")
    quantised = np.clip(np.floor(8 * xq.astype(np.float64) + 0.5), 0, 8) / 8
    expected = np.argmax(eventsim.run_ann(qcfs, quantised.astype(np.float32)), axis=1)
    assert np.mean(rec.predictions()[:, -1] == expected) >= 0.99  # QCFS with L = K converts exactly


def test_builder_helpers_are_consistent():
    rng = np.random.default_rng(0)
    b = NetBuilder(rng, (4,), normalise=False)
    b.relu(b.dense("x", 3))
    b.dense(b.current, 2)
    graph = b.graph()
    net = SpikingNetwork.from_kind(ttfs_network(graph, {graph.nodes[2].name: np.float32(1.0)}, 4))
    assert not net.meta["ttfs"]["synchronous_delays"] and net.layers[graph.nodes[2].name].stage == 1


@settings(max_examples=25)
@given(seed=st.integers(0, 2**31))
def test_conversion_error_reads_spike_times(seed):
    """The value of a TTFS spike is δ·(K + 1 − k); against relu(z) it is off by at most δ/2 below λ."""
    rng = np.random.default_rng(seed)
    graph = single_layer(rng, 6, 8, 1.0, 0.5).graph
    window, delta = 8, np.float32(0.25)
    tnet = SpikingNetwork.from_kind(ttfs_network(graph, {graph.nodes[2].name: delta * window}, window))
    x = grid(rng, (3, 6), 0.0, 1.0, 0.125)  # on the input's 1/8 grid: coding is exact
    rec = eventsim.simulate(tnet, x, 2 * window, encoding="ttfs", raster_samples=range(3))
    (error,) = eventsim.conversion_error(tnet, rec, x)
    dense = graph.nodes[1]
    z = x.astype(np.float64) @ dense.params["W"].T + dense.params["b"]
    bound = np.where(z <= delta * window, delta / 2, z - delta * window)
    assert error.mean_abs_error <= np.where(z < 0, 0, bound).mean() + 1e-6
    assert error.inactive_spikes == 0  # z ≤ 0 never fires
