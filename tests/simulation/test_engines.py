"""The event engine against the reference engine (its ground truth), and both against the
identities every integrate-and-fire variant satisfies (docs/methods.md, "Identities")."""

from __future__ import annotations

import numpy as np
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, exact_network, grid, random_networks, single_layer

import eventsim
from eventsim import simulate
from eventsim.simulation import ENGINES
from eventsim.snn.network import NeuronLayer, SpikingNetwork

#: Every registered engine but the ground truth itself, with each variant of how it runs.
OTHER_ENGINES = [name for name in ENGINES if name != "reference"]
VARIANTS = ENGINE_VARIANTS + [name for name in OTHER_ENGINES if name not in dict(ENGINE_VARIANTS)]


@settings(max_examples=60)
@given(
    case=random_networks(),
    encoding=st.sampled_from(["direct", "rate"]),
    T=st.integers(1, 12),
    engine=st.sampled_from(VARIANTS),
)
def test_every_engine_is_bit_identical_to_the_reference(case, encoding, T, engine):
    net, x = case
    runs = [
        simulate_with(e, net, x, T, encoding=encoding, seed=3, raster_samples=(0,), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)
    rec = runs[1]
    assert rec.outputs.shape == (len(x), T, int(np.prod(net.graph.output_shape)))
    for name in rec.layers:  # at most one spike per neuron and step
        assert rec.rasters[0][name].dtype == bool
        assert rec.neuron_counts[name].max(initial=0) <= T * len(x)


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**31),
    T=st.integers(1, 40),
    theta=st.sampled_from([0.5, 1.0, 2.0]),
    half=st.booleans(),
    engine=st.sampled_from(["reference"] + VARIANTS),
)
def test_constant_input_count_formula(seed, T, theta, half, engine):
    """N_T = clip(floor((v(0) + T z) / θ), 0, T) for a constant current z."""
    rng = np.random.default_rng(seed)
    net = single_layer(rng, 5, 6, theta, theta / 2 if half else 0.0)
    x = grid(rng, (1, 5), 0.0, 1.0, 0.125)
    first = net.graph.nodes[1]
    z = x[0] @ first.params["W"].T + first.params["b"]
    expected = np.clip(np.floor((net.layers[net.graph.nodes[2].name].v0 + T * z) / theta), 0, T)
    rec = simulate_with(engine, net, x, T)
    np.testing.assert_array_equal(rec.neuron_counts[net.graph.nodes[2].name], expected)
    # and the rate bound: with v0 = θ/2, |r − z| ≤ θ/(2T) for z in [0, θ]
    rate = theta * expected / T
    inside = (z >= 0) & (z <= theta)
    if half:
        assert np.all(np.abs(rate - z)[inside] <= theta / (2 * T) + 1e-6)
    else:
        assert np.all(((z - theta / T < rate) & (rate <= z + 1e-6))[inside])


@settings(max_examples=25)
@given(case=random_networks(joins=False), T=st.integers(1, 10), engine=st.sampled_from(["reference"] + VARIANTS))
def test_threshold_scaling_is_weight_normalisation(case, T, engine):
    """(θ_l = λ_l, spikes of amplitude λ_l) and (W_l λ_{l-1}/λ_l, b_l/λ_l, θ = 1) spike identically.

    λ are powers of two per layer, so the rescaled weights stay exact; pools between the layers
    commute with the scaling (max pooling of counts scaled by λ, average pooling is linear)."""
    net, x = case
    graph = net.graph
    # the rescaling below is written for chains (every conv/dense reads the layer before it)
    assume(not any(len(n.inputs) > 1 for n in graph.nodes))
    rng = np.random.default_rng(len(graph.nodes))
    lam = {n.name: float(2.0 ** rng.integers(-1, 3)) for n in graph.activation_nodes()}
    scaled_a = {name: NeuronLayer(np.float32(lam[name]), np.float32(lam[name] / 2)) for name in lam}
    net_a = SpikingNetwork(graph, scaled_a)
    nodes, previous = [], 1.0
    for node in graph.nodes:
        if node.op in ("conv", "dense"):
            after = next((n for n in graph.nodes if node.name in n.inputs), None)
            target = lam[after.name] if after is not None and after.name in lam else 1.0
            factor = previous / target
            node = node.copy(params={"W": node.params["W"] * factor, "b": node.params["b"] / target})
        elif "value" in node.params:  # a pad's border is a value, in the units of the spikes it pads
            node = node.copy(params={"value": node.params["value"] / previous})
        elif node.name in lam:
            previous = lam[node.name]
        nodes.append(node)
    graph_b = eventsim.Graph(nodes, graph.output)
    net_b = SpikingNetwork(graph_b, {name: NeuronLayer(np.float32(1), np.float32(0.5)) for name in lam})
    sample = tuple(range(len(x)))
    a = simulate_with(engine, net_a, x, T, raster_samples=sample)
    b = simulate_with(engine, net_b, x, T, raster_samples=sample)
    for i in sample:
        for name in lam:
            np.testing.assert_array_equal(a.rasters[i][name], b.rasters[i][name])
    np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-6, atol=1e-6)


def test_batches_and_orders_do_not_matter():
    rng = np.random.default_rng(0)
    b = NetBuilder(rng, (2, 6, 6), normalise=True)
    b.pool(b.relu(b.conv("x", 3, 3, 1, 1, 1, 1)), "maxpool", (2, 2), (2, 2), (0, 0, 0, 0))
    b.dense(b.flatten(b.current), 3)
    net = exact_network(b.graph(), rng, "half")
    x = grid(rng, (9,) + net.graph.input_shape, 0, 1, 0.125)
    whole = simulate(net, x, 8, encoding="rate", seed=5, batch_size=64)
    pieces = simulate(net, x, 8, encoding="rate", seed=5, batch_size=2)
    assert_identical(whole, pieces)
