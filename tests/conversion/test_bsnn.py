"""BSNN: bistable neurons and synchronous neurons, against closed forms and across the two engines."""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, bistable, grid, random_networks

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.snn.coding import rate_spikes
from eventsim.snn.network import NeuronLayer, SpikingNetwork


@settings(max_examples=50)
@given(
    case=random_networks(),
    encoding=st.sampled_from(["direct", "rate"]),
    period=st.integers(1, 4),
    cycles=st.integers(1, 8),
    v0=st.sampled_from(["half", "zero"]),
    engine=st.sampled_from(ENGINE_VARIANTS),
)
def test_engines_are_bit_identical(case, encoding, period, cycles, v0, engine):
    net, x = case
    bnet = bistable(net.graph, np.random.default_rng(period), period, v0)
    T = period * cycles
    runs = [
        simulate_with(e, bnet, x, T, encoding=encoding, seed=2, raster_samples=(0,), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)


def _one_layer(rng, period, v0):
    b = NetBuilder(rng, (6,), normalise=False)
    b.relu(b.dense("x", 5))
    b.dense(b.current, 2)
    graph = b.graph()
    name = graph.activation_nodes()[0].name
    theta = np.float32(rng.choice([0.5, 1.0]))
    start = {"half": theta / 2, "zero": np.float32(0)}[v0]
    return (
        SpikingNetwork(graph, {name: NeuronLayer(theta, start, "bistable", period=period, stage=1)}),
        name,
        theta,
        start,
    )


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**31),
    period=st.integers(1, 6),
    cycles=st.integers(2, 10),
    v0=st.sampled_from(["half", "zero"]),
)
def test_a_firing_cycle_emits_what_the_last_integration_cycle_owes(seed, period, cycles, v0):
    """Per neuron: V += S over an integration cycle (the input's order inside it does not matter);
    the next firing cycle emits n = min(P, max(0, floor(V/θ))) spikes and V −= nθ. A neuron whose
    cycle input is ≤ 0, starting below θ, emits nothing (no spikes of inactivated neurons)."""
    rng = np.random.default_rng(seed)
    net, name, theta, start = _one_layer(rng, period, v0)
    x = grid(rng, (2, 6), 0.0, 1.0, 0.125)
    T = period * cycles
    rec = eventsim.simulate(net, x, T, encoding="rate", seed=seed % 1000, raster_samples=(0, 1))
    dense = net.graph.nodes[1]
    spikes_in = rate_spikes(x, T, seed % 1000).astype(np.float64)  # (N, T, 6)
    currents = spikes_in @ dense.params["W"].T.astype(np.float64) + dense.params["b"]  # (N, T, 5)
    for i in range(2):
        v = np.full(5, float(start))
        for c in range(0, cycles - 1, 2):  # stage 1: integrate in even cycles, fire in odd ones
            below = v < theta
            cycle_input = currents[i, c * period : (c + 1) * period].sum(axis=0)
            v = v + cycle_input
            owed = np.clip(np.floor(v / theta), 0, period)
            fired = rec.rasters[i][name][(c + 1) * period : (c + 2) * period].sum(axis=0)
            np.testing.assert_array_equal(fired, owed)
            assert not fired[(cycle_input <= 0) & below].any()
            v = v - owed * theta


def test_first_cycle_of_a_chain_is_the_quantised_ann():
    """With a direct-coded input, the first firing cycle of every layer of a dense chain equals the ANN
    with each ReLU replaced by the quantiser q(z) = θ/P · min(P, floor((P z + v0)/θ))."""
    rng = np.random.default_rng(4)
    b = NetBuilder(rng, (6,), normalise=False)
    for width in (7, 5, 4):
        b.relu(b.dense(b.current, width))
    b.dense(b.current, 3)
    graph = b.graph()
    period = 4
    net = bistable(graph, rng, period, "half")
    x = grid(rng, (3, 6), 0.0, 1.0, 0.125)
    T = period * 5
    rec = eventsim.simulate(net, x, T, raster_samples=range(3))
    a = x.astype(np.float64)
    for stage, node in enumerate(graph.activation_nodes(), start=1):
        dense = graph.node(node.inputs[0])
        z = a @ dense.params["W"].T + dense.params["b"]
        theta, v0 = net.threshold_array(node.name), net.v0_array(node.name)
        count = np.clip(np.floor((period * z + v0) / theta), 0, period)
        first = slice(stage * period, (stage + 1) * period)
        fired = np.stack([rec.rasters[i][node.name][first].sum(axis=0) for i in range(3)])
        np.testing.assert_array_equal(fired, count)
        a = theta * count / period


def test_bsnn_preset_on_the_bundled_model(tmp_path):
    graph = eventsim.load_onnx(example_model_path())
    data = load_example_data()
    net = eventsim.convert(graph, data["x_calib"], "bsnn", period=4, threshold="percentile", per_channel=True)
    assert {layer.kind for layer in net.layers.values()} == {"bistable"}
    assert [net.layers[n.name].stage for n in graph.activation_nodes()] == [1, 2, 3]
    net.save(tmp_path / "b.npz")
    again = eventsim.SpikingNetwork.load(tmp_path / "b.npz")
    assert again.fingerprint() == net.fingerprint() and again.layers[graph.nodes[2].name].period == 4
    x, y = data["x_test"][:100], data["y_test"][:100]
    rec = eventsim.simulate(again, x, 4 * 8)
    accuracy = rec.accuracy(y)
    # the output integrates from cycle 3 on: chance level before, near the ANN from its first cycle
    assert accuracy[3 * 4 - 1] < 0.2
    assert accuracy[4 * 4 - 1] > 0.9
    assert accuracy[-1] > 0.9
    for bad in ({"ftbc": True}, {"v0": "optimized"}, {"period": 0}):
        with pytest.raises(ValueError):
            eventsim.convert(graph, data["x_calib"], "bsnn", T=8, **bad)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**31), period=st.integers(1, 6))
def test_no_spikes_of_inactivated_neurons_on_a_direct_coded_layer(seed, period):
    """With a constant input, a bistable neuron whose ANN activation is 0 (z ≤ 0) integrates P·z ≤ 0
    per cycle and never fires; the IF layer with the same parameters is the control."""
    rng = np.random.default_rng(seed)
    net, name, theta, start = _one_layer(rng, period, "half")
    x = grid(rng, (4, 6), 0.0, 1.0, 0.125)
    T = period * 8
    (bsnn,) = eventsim.conversion_error(net, eventsim.simulate(net, x, T, raster_samples=range(4)), x)
    assert bsnn.inactive_spikes == 0
    plain = SpikingNetwork(net.graph, {name: NeuronLayer(theta, start)})
    (control,) = eventsim.conversion_error(plain, eventsim.simulate(plain, x, T, raster_samples=range(4)), x)
    assert control.inactive_spikes == 0  # constant negative current: IF is silent too
    # a P-level quantiser with v0 = θ/2 below θ, saturation above it
    dense = net.graph.nodes[1]
    z = x @ dense.params["W"].T + dense.params["b"]
    bound = np.where(z < 0, 0.0, np.where(z <= theta, theta / (2 * period), z - theta))
    assert bsnn.mean_abs_error <= bound.mean() + 1e-6
