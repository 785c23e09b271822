"""BSNN: bistable neurons and synchronous neurons, against closed forms and across the two engines."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid, random_networks
from test_engines import assert_identical

import eventsim
from eventsim import Graph, Node
from eventsim.examples import example_model_path, load_example_data
from eventsim.ir.stages import pipeline_stages
from eventsim.passes.synchronous import insert_synchronous_neurons
from eventsim.snn.coding import rate_spikes
from eventsim.snn.kinds import FIRE, IDLE, INTEGRATE, bistable_phase
from eventsim.snn.network import NeuronLayer, SpikingNetwork

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def bistable(graph: Graph, rng, period: int, v0: str) -> SpikingNetwork:
    """Grid thresholds, bistable layers at their stages, synchronous delays on the joins."""
    synced, _ = insert_synchronous_neurons(graph, period)
    stages = pipeline_stages(synced, period)
    layers = {}
    for node in synced.activation_nodes():
        theta = grid(rng, (node.shape[0],) if rng.random() < 0.5 else (), 0.25, 2.0, 0.25)
        start = theta / 2 if v0 == "half" else np.zeros_like(theta)
        layers[node.name] = NeuronLayer(theta, start, "bistable", period=period, stage=stages[node.name])
    return SpikingNetwork(synced, layers)


def test_phase_schedule():
    """Stage s: idle before cycle s − 1, then integrate / fire in alternate cycles, s − 1 first."""
    t = np.arange(24)
    assert bistable_phase(t, 4, 1).tolist() == ([INTEGRATE] * 4 + [FIRE] * 4) * 3
    assert bistable_phase(t, 2, 3).tolist()[:8] == [IDLE] * 4 + [INTEGRATE] * 2 + [FIRE] * 2
    for stage in range(1, 5):  # a layer integrates exactly while the one before it fires
        before, after = bistable_phase(t, 3, stage), bistable_phase(t, 3, stage + 1)
        assert np.all((before == FIRE) == (after == INTEGRATE))


@settings(max_examples=50, **SETTINGS)
@given(
    case=random_networks(),
    encoding=st.sampled_from(["direct", "rate"]),
    period=st.integers(1, 4),
    cycles=st.integers(1, 8),
    v0=st.sampled_from(["half", "zero"]),
)
def test_engines_are_bit_identical(case, encoding, period, cycles, v0):
    net, x = case
    bnet = bistable(net.graph, np.random.default_rng(period), period, v0)
    T = period * cycles
    runs = [
        eventsim.simulate(bnet, x, T, engine=e, encoding=encoding, seed=2, raster_samples=(0,), batch_size=2)
        for e in ("reference", "event")
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


@settings(max_examples=40, **SETTINGS)
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


@settings(max_examples=25, **SETTINGS)
@given(
    seed=st.integers(0, 2**31),
    steps=st.integers(1, 7),
    T=st.integers(1, 16),
    engine=st.sampled_from(["event", "reference"]),
)
def test_a_synchronous_neuron_delays_a_spike_train_and_nothing_else(seed, steps, T, engine):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (5,), normalise=False)
    layer = b.relu(b.dense("x", 6))
    b.dense(layer, 3)
    plain = b.graph()
    nodes = list(plain.nodes[:-1]) + [
        Node("sync", "delay", (layer,), {"steps": steps}),
        plain.nodes[-1].copy(inputs=("sync",)),
    ]
    delayed = Graph(nodes, plain.output)
    params = {layer: NeuronLayer(np.float32(0.5), np.float32(0.25))}
    x = grid(rng, (2, 5), 0.0, 1.0, 0.125)
    a = eventsim.simulate(SpikingNetwork(plain, params), x, T, engine=engine, encoding="rate", raster_samples=(0,))
    d = eventsim.simulate(SpikingNetwork(delayed, params), x, T, engine=engine, encoding="rate", raster_samples=(0,))
    np.testing.assert_array_equal(a.rasters[0][layer], d.rasters[0][layer])  # the layer itself is untouched
    out = plain.nodes[-1]
    bias = out.params["b"]
    step_a = np.diff(a.outputs, axis=1, prepend=0) - bias  # what spikes brought in each step
    step_d = np.diff(d.outputs, axis=1, prepend=0) - bias
    np.testing.assert_array_equal(step_d[:, steps:], step_a[:, : T - steps] if T > steps else step_d[:, steps:])
    assert not step_d[:, : min(steps, T)].any()
    relayed = d.sops_per_sample[:, d.synaptic_nodes.index("sync")]
    sent_in_time = [a.rasters[0][layer][: max(T - steps, 0)].sum()]
    assert relayed[0] == a.spikes_per_sample[0, 0] and sent_in_time[0] <= relayed[0]


@pytest.mark.parametrize("path", [MODELS / "resnet_tiny.onnx", example_model_path("mnist_resnet")])
def test_synchronous_neurons_are_found_on_residual_networks(path):
    graph = eventsim.load_onnx(path)
    synced, delays = insert_synchronous_neurons(graph, 5)
    adds = [n for n in graph.nodes if n.op == "add"]
    assert adds and len(delays) >= len(adds)
    net = bistable(graph, np.random.default_rng(0), 5, "half")
    stages = net.node_stages()  # with the delays counted in cycles
    for node in synced.nodes:  # every join sees its inputs at the same stage
        if len(node.inputs) > 1:
            assert len({stages[i] for i in node.inputs}) == 1, node.name
    for delay in delays:  # on a spike train: after a neuron layer (identity or before the 1x1 projection)
        assert graph.node(delay.source).spec.role in ("activation", "input") and delay.steps % 5 == 0
    x = np.random.default_rng(1).random((3,) + graph.input_shape, dtype=np.float32)
    np.testing.assert_array_equal(eventsim.run_ann(synced, x), eventsim.run_ann(graph, x))


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
    assert accuracy[3 * 4 - 1] < 0.2 < 0.9 < accuracy[4 * 4 - 1]  # the output integrates from cycle 3 on
    assert accuracy[-1] > 0.9
    for bad in ({"ftbc": True}, {"v0": "optimized"}, {"period": 0}):
        with pytest.raises(ValueError):
            eventsim.convert(graph, data["x_calib"], "bsnn", T=8, **bad)


@settings(max_examples=20, **SETTINGS)
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
