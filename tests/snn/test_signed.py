"""Signed neurons (kind ``signed``): negative spikes that take back earlier positive ones. Against
closed forms (the telescoping identity with signed counts, the quantiser the net count follows, the
count of a constant current), every engine against the reference, and how negative spikes are
counted and priced."""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import grid, random_networks, single_layer

import eventsim
from eventsim.conversion.presets import resolve
from eventsim.measure.counts import snn_counts
from eventsim.snn.kinds import if_rule, signed_rule
from eventsim.snn.network import NeuronLayer, SpikingNetwork

ENGINES = ["reference"] + ENGINE_VARIANTS


def as_signed(net: SpikingNetwork) -> SpikingNetwork:
    """``net`` with every layer a signed layer (same thresholds and initial potentials)."""
    layers = {name: NeuronLayer(layer.threshold, layer.v0, "signed") for name, layer in net.layers.items()}
    return SpikingNetwork(net.graph, layers)


@settings(max_examples=40, deadline=None)
@given(
    case=random_networks(),
    T=st.integers(1, 12),
    encoding=st.sampled_from(["direct", "rate"]),
    engine=st.sampled_from(ENGINE_VARIANTS + ["event"]),
)
def test_every_engine_runs_signed_neurons_as_the_reference(case, T, encoding, engine):
    """Bit-identical recordings (outputs, spikes, synaptic events, rasters), each neuron's net count
    carried from step to step (and from chunk to chunk in the layer engine)."""
    net, x = case
    net = as_signed(net)
    runs = [
        simulate_with(e, net, x, T, encoding=encoding, seed=5, raster_samples=(0,), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)


@settings(max_examples=80)
@given(
    z=st.lists(st.integers(-7, 7), min_size=1, max_size=40),
    theta=st.integers(1, 16),
    start=st.integers(0, 15),
)
def test_the_net_count_is_the_quantised_running_sum(z, theta, start):
    """With |I(t)| < θ: after every step N(t) = max(0, ⌊(v0 + Σ I)/θ⌋) whatever the order of the
    inputs, N never falls below 0, and θ·N = v0 + Σ I − v (the telescoping identity with negative
    spikes). IF on the same inputs keeps what it emitted early: its count is at least the signed one."""
    theta = np.float32(theta / 4)
    current = [np.float32(value / 8) * theta for value in z]  # |I| ≤ 7θ/8 < θ, exact in float32
    v = v_if = np.float32(start / 16) * theta
    v0, net, fired_if, total = v, np.float32(0), 0, np.float32(0)
    for value in current:
        v, spike, net = signed_rule(v, value, theta, np.float32(3), net)
        v_if, spike_if = if_rule(v_if, value, theta, np.float32(3))
        fired_if += int(spike_if)
        total += value
        assert spike in (-1, 0, 1) and net >= 0
        assert net == max(0, np.floor((v0 + total) / theta))
        assert theta * net == pytest.approx(v0 + total - v, abs=1e-5)
        assert fired_if >= net


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    T=st.integers(1, 40),
    theta=st.sampled_from([0.5, 1.0, 2.0]),
    half=st.booleans(),
    engine=st.sampled_from(ENGINES),
)
def test_constant_input_count(seed, T, theta, half, engine):
    """A constant current z gives IF's count N_T = clip(⌊(v0 + T z)/θ⌋, 0, T): a steady input needs
    no correction, so no negative spike is emitted (spikes = net count)."""
    rng = np.random.default_rng(seed)
    net = as_signed(single_layer(rng, 5, 6, theta, theta / 2 if half else 0.0))
    x = grid(rng, (1, 5), 0.0, 1.0, 0.125)
    first, name = net.graph.nodes[1], net.layer_names[0]
    z = x[0] @ first.params["W"].T + first.params["b"]
    expected = np.clip(np.floor((net.layers[name].v0 + T * z) / theta), 0, T)
    rec = simulate_with(engine, net, x, T)
    np.testing.assert_array_equal(rec.neuron_counts[name], expected)


def test_negative_spikes_are_spikes_and_events():
    """A layer whose input rises, then falls: its negative spikes count in the spike counts (|s|),
    each is one synaptic event per target priced as an accumulate (a sop), and the output receives
    the net count: θ·N(T) spikes' worth, not the IF network's over-count."""
    rng = np.random.default_rng(7)
    net = as_signed(single_layer(rng, 4, 6, 0.25, 0.125))
    name = net.layer_names[0]
    x = grid(rng, (3, 4), 0.0, 1.0, 0.125)
    T = 8
    # a temporal bias that pushes the layer up in the first steps and down after: it over-fires first
    bias = np.concatenate([np.full(3, 0.75), np.full(5, -0.375)]).astype(np.float32)
    net.layers[name].temporal_bias = bias
    rec = eventsim.simulate(net, x, T, engine="event")
    first = net.graph.nodes[1]
    z = (x @ first.params["W"].T + first.params["b"]).astype(np.float32)
    v, count, spikes, events = np.full(z.shape, np.float32(0.125)), np.zeros(z.shape, np.float32), 0, 0
    for t in range(T):
        v, s, count = signed_rule(v, z + bias[t], np.float32(0.25), np.float32(3), count)
        spikes, events = spikes + np.abs(s).sum(), events + (s != 0).sum()
    assert spikes > count.sum()  # some spikes were taken back
    assert rec.spikes_per_sample.sum() == spikes and rec.sops_per_sample.sum() == 2 * events
    after = net.graph.nodes[3].name
    terms = {r.term: r.per_sample for r in snn_counts(net, rec).rows if r.node == after}
    assert terms["sop"] == pytest.approx(2 * events / len(x)) and "mac" not in terms
    # the output: what the net counts bring through the last dense layer, T steps of its bias
    last = net.graph.nodes[3]
    expected = (np.float32(0.25) * count) @ last.params["W"].T + T * last.params["b"]
    np.testing.assert_allclose(rec.outputs[:, -1], expected, rtol=1e-5, atol=1e-5)


def test_signed_conversion_and_files(tmp_path):
    """kind='signed' in a rate-coded preset gives signed layers (with FTBC's biases when asked); the
    kind survives a file round trip."""
    assert resolve("ftbc", 4, kind="signed")["kind"] == "signed"
    graph = eventsim.load_onnx(eventsim.examples.example_model_path("digits_mlp"))
    data = eventsim.examples.load_example_data("digits")
    net = eventsim.convert(graph, data["x_calib"][:64], "ftbc", 4, kind="signed", ftbc_batches=1, ftbc_batch_size=64)
    assert {layer.kind for layer in net.layers.values()} == {"signed"}
    assert all(layer.temporal_bias is not None for layer in net.layers.values())
    net.save(tmp_path / "s.npz")
    back = SpikingNetwork.load(tmp_path / "s.npz")
    assert back.fingerprint() == net.fingerprint() and back.layers[back.layer_names[0]].kind == "signed"


@pytest.mark.parametrize("options", [{"kind": "signed"}, {"burst": 2}])
def test_the_trainer_refuses_signed_and_burst_layers_by_name(options):
    """Their rules are not the leaky one the trainer differentiates: fine-tuning says so, naming the
    layer and the kinds it can train, before any work."""
    rng = np.random.default_rng(0)
    net = single_layer(rng, 3, 4, 1.0, 0.5)
    name = net.layer_names[0]
    net.layers[name] = NeuronLayer(np.float32(1), np.float32(0.5), options.get("kind", "burst"),
                                   burst=options.get("burst", 1))  # fmt: skip
    x, y = grid(rng, (8, 3), 0.0, 1.0, 0.125), rng.integers(0, 2, 8)
    with pytest.raises(eventsim.UnsupportedError, match=f"{name}.*cannot differentiate"):
        eventsim.finetune(net, x, y, 2, epochs=1)
