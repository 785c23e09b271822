"""Burst neurons (kind ``burst``): up to B spikes per step. Against closed forms (the count of a
constant current, the telescoping identity), against IF (B = 1), and every engine against the
reference; how their spikes are counted and priced; their files and conversion options."""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import grid, random_networks, single_layer

import eventsim
from eventsim.conversion.presets import resolve
from eventsim.errors import OptionError, ShapeError
from eventsim.measure.counts import snn_counts
from eventsim.snn.kinds import burst_rule
from eventsim.snn.network import NeuronLayer, SpikingNetwork

ENGINES = ["reference"] + ENGINE_VARIANTS


def as_burst(net: SpikingNetwork, rng: np.random.Generator, burst: int | None = None) -> SpikingNetwork:
    """``net`` with every layer a burst layer (B drawn per layer from 1–5 unless given)."""
    layers = {
        name: NeuronLayer(
            layer.threshold, layer.v0, "burst", burst=int(burst if burst is not None else rng.integers(1, 6))
        )
        for name, layer in net.layers.items()
    }
    return SpikingNetwork(net.graph, layers)


def scaled_up(net: SpikingNetwork, factor: float) -> SpikingNetwork:
    """``net`` with thresholds (and v0) divided by ``factor`` (a power of two: exact), so that layers
    hold several thresholds' worth and bursts happen."""
    layers = {
        name: NeuronLayer(layer.threshold / factor, layer.v0 / factor, layer.kind, burst=layer.burst)
        for name, layer in net.layers.items()
    }
    return SpikingNetwork(net.graph, layers)


@settings(max_examples=40, deadline=None)
@given(
    case=random_networks(),
    T=st.integers(1, 10),
    encoding=st.sampled_from(["direct", "rate"]),
    factor=st.sampled_from([1.0, 4.0]),
    engine=st.sampled_from(ENGINE_VARIANTS + ["event"]),
)
def test_every_engine_runs_burst_neurons_as_the_reference(case, T, encoding, factor, engine):
    """Bit-identical recordings (outputs, spikes per step/sample/neuron, synaptic events, rasters),
    with bursts of several spikes (thresholds lowered by ``factor``); spikes never exceed B·T."""
    net, x = case
    net = scaled_up(as_burst(net, np.random.default_rng(len(x) + T)), factor)
    runs = [
        simulate_with(e, net, x, T, encoding=encoding, seed=5, raster_samples=(0,), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)
    for name in net.layer_names:
        assert runs[1].neuron_counts[name].max(initial=0) <= net.layers[name].burst * T * len(x)


@settings(max_examples=25, deadline=None)
@given(case=random_networks(), T=st.integers(1, 10), engine=st.sampled_from(ENGINES))
def test_a_burst_of_one_is_integrate_and_fire(case, T, engine):
    """B = 1: the IF network's recording, bit for bit, in every engine."""
    net, x = case
    burst = as_burst(net, np.random.default_rng(0), burst=1)
    assert_identical(simulate_with("reference", net, x, T), simulate_with(engine, burst, x, T))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    T=st.integers(1, 30),
    theta=st.sampled_from([0.125, 0.25, 0.5, 1.0]),
    half=st.booleans(),
    engine=st.sampled_from(ENGINES),
)
def test_constant_input_count_with_enough_burst(seed, T, theta, half, engine):
    """With B ≥ z/θ + 1, a constant current z gives N_T = max(0, ⌊(v0 + T·z)/θ⌋) — no clip at one
    spike per step (IF's is min(T, ...)) — so with v0 = θ/2 the rate is within θ/(2T) of every z ≥ 0,
    however far above θ."""
    rng = np.random.default_rng(seed)
    net = single_layer(rng, 5, 6, theta, theta / 2 if half else 0.0)
    x = grid(rng, (1, 5), 0.0, 1.0, 0.125)
    first, name = net.graph.nodes[1], net.layer_names[0]
    z = x[0] @ first.params["W"].T + first.params["b"]
    burst = int(np.ceil(max(z.max(), 0) / theta)) + 1
    net.layers[name] = NeuronLayer(net.layers[name].threshold, net.layers[name].v0, "burst", burst=burst)
    expected = np.maximum(np.floor((net.layers[name].v0 + T * z) / theta), 0)
    rec = simulate_with(engine, net, x, T)
    np.testing.assert_array_equal(rec.neuron_counts[name], expected)
    if half:
        rate = theta * expected / T
        assert np.all(np.abs(rate - z)[z >= 0] <= theta / (2 * T) + 1e-6)


@settings(max_examples=60)
@given(
    z=st.lists(st.integers(-16, 40), min_size=1, max_size=40),
    theta=st.integers(1, 16),
    start=st.integers(0, 15),
    burst=st.integers(1, 6),
)
def test_burst_telescoping_identity(z, theta, start, burst):
    """θ Σ k(t) = Σ z(t) + v(0) − v(T) for any input sequence, with 0 ≤ k ≤ B per step, and a
    neuron below B·θ after its burst holds less than θ (it emitted all it could)."""
    theta = np.float32(theta / 4)
    v = np.float32(start / 16) * theta
    v_start, fired = v, 0
    for value in z:
        m = v + np.float32(value / 8)
        v, k = burst_rule(v, np.float32(value / 8), theta, np.float32(burst))
        assert k == int(k) and 0 <= k <= burst
        if m < (burst + 1) * theta:
            assert v < theta
        fired += int(k)
    assert theta * fired == pytest.approx(sum(value / 8 for value in z) + v_start - v, abs=1e-5)


def test_rounding_of_the_quotient_cannot_break_the_reset():
    """k is held to k·θ ≤ m < (k+1)·θ even where m/θ rounds across a whole number in float32."""
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.01, 3, 200_000).astype(np.float32)
    k = rng.integers(0, 9, theta.shape).astype(np.float32)
    # membranes at and just around k·θ, where the quotient may round either way
    m = (k * theta) * np.float32(1) + rng.choice([-1, 0, 1], theta.shape).astype(np.float32) * np.spacing(k * theta)
    v, got = burst_rule(np.zeros_like(m), m, theta, np.float32(16))
    above = m >= 0  # below 0 the count is clipped to 0
    assert np.all((got * theta <= m)[above]) and np.all((m < (got + 1) * theta)[above])
    assert np.all(got[~above] == 0)
    np.testing.assert_array_equal(v, m - got * theta)


def test_spikes_events_and_energy_of_bursts():
    """A burst of k is k spikes in every count and one synaptic event per target (the engines'
    count); the energy counts price the events that burst layers send as multiply-accumulates."""
    rng = np.random.default_rng(3)
    net = single_layer(rng, 4, 6, 0.25, 0.125)
    name = net.layer_names[0]
    x = grid(rng, (3, 4), 0.0, 1.0, 0.125)
    T = 6
    if_rec = eventsim.simulate(net, x, T)
    after = net.graph.nodes[3].name  # the dense layer the spikes reach
    if_terms = {r.term for r in snn_counts(net, if_rec).rows if r.node == after}
    net.layers[name] = NeuronLayer(np.float32(0.25), np.float32(0.125), "burst", burst=3)
    rec = eventsim.simulate(net, x, T)
    # the oracle: the rule step by step, the dense layer after it with 2 outputs (fan-out 2)
    first = net.graph.nodes[1]
    z = x @ first.params["W"].T + first.params["b"]
    v, spikes, events = np.full(z.shape, np.float32(0.125)), 0, 0
    for _ in range(T):
        v, k = burst_rule(v, z.astype(np.float32), np.float32(0.25), np.float32(3))
        spikes, events = spikes + k.sum(), events + (k > 0).sum()
    assert rec.spikes_per_sample.sum() == spikes and rec.sops_per_sample.sum() == 2 * events
    assert spikes > events  # the test has bursts of more than one spike
    terms = {r.term: r.per_sample for r in snn_counts(net, rec).rows if r.node == after}
    assert terms["mac"] == pytest.approx(2 * events / len(x)) and "sop" not in terms
    assert "sop" in if_terms and "mac" not in if_terms
    assert snn_counts(net, rec).total("spike") == pytest.approx(spikes / len(x))


def test_burst_layers_are_saved_and_checked(tmp_path):
    """B survives a file round trip and is part of the fingerprint; a bad B is refused by name; no
    other kind takes a B other than 1."""
    rng = np.random.default_rng(0)
    net = as_burst(single_layer(rng, 3, 4, 1.0, 0.5), rng, burst=3)
    net.save(tmp_path / "n.npz")
    back = SpikingNetwork.load(tmp_path / "n.npz")
    assert back.layers[back.layer_names[0]].burst == 3 and back.fingerprint() == net.fingerprint()
    other = as_burst(single_layer(np.random.default_rng(0), 3, 4, 1.0, 0.5), rng, burst=4)
    assert other.fingerprint() != net.fingerprint()
    graph, name = net.graph, net.layer_names[0]
    for layer, words in [
        (NeuronLayer(np.float32(1), np.float32(0), "burst", burst=0), "1 ≤ B"),
        (NeuronLayer(np.float32(1), np.float32(0), "burst", burst=2.5), "whole number"),
        (NeuronLayer(np.float32(1), np.float32(0), "if", burst=2), "burst 1"),
    ]:
        with pytest.raises(ShapeError, match=words):
            SpikingNetwork(graph, {name: layer})


def test_conversion_options_for_bursts():
    """``burst=B`` makes the IF neurons of a rate-coded preset burst neurons; scheduled kinds and
    bad values are refused by name."""
    settings_ = resolve("ftbc", 4, burst=3)
    assert settings_["kind"] == "burst" and settings_["burst"] == 3 and settings_["ftbc"]
    assert resolve("opi", kind="burst")["burst"] == 2
    for preset, value, words in [("bsnn", 2, "bistable"), ("opi", 0, "from 1"), ("opi", True, "whole number")]:
        with pytest.raises(OptionError, match=words):
            resolve(preset, 8, burst=value)
    graph = eventsim.load_onnx(eventsim.examples.example_model_path("digits_mlp"))
    data = eventsim.examples.load_example_data("digits")
    net = eventsim.convert(graph, data["x_calib"][:64], "ftbc", 4, burst=3, ftbc_batches=1, ftbc_batch_size=64)
    assert {layer.kind for layer in net.layers.values()} == {"burst"}
    assert {layer.burst for layer in net.layers.values()} == {3}
    assert all(layer.temporal_bias is not None for layer in net.layers.values())
