"""Single-spike neurons (``single_spike``, the neuron of TTFS training): at most one spike per neuron
and sample in every engine, bit-identical engines, the closed-form spike time under a constant
current, the rule on arbitrary float32 values, the file, and what is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid, random_networks

import eventsim
from eventsim.errors import ShapeError, UnsupportedError
from eventsim.snn.kinds import SILENT, get_kind, single_spike_rule
from eventsim.snn.network import NeuronLayer, SpikingNetwork

ENGINES = ["reference"] + ENGINE_VARIANTS


def single(net: SpikingNetwork) -> SpikingNetwork:
    """``net`` with every layer single-spike (same θ and v0)."""
    layers = {name: NeuronLayer(x.threshold, x.v0, "single_spike") for name, x in net.layers.items()}
    return SpikingNetwork(net.graph, layers)


def constant_current_net(currents, theta, v0) -> SpikingNetwork:
    """input (1,) → dense with W = 0 and bias ``currents`` → a single-spike layer → dense: each neuron
    receives exactly its current, every step."""
    currents = np.asarray(currents, np.float32)
    b = NetBuilder(np.random.default_rng(0), (1,), normalise=False)
    b.add("dense", ["x"], {}, {"W": np.zeros((len(currents), 1), np.float32), "b": currents})
    layer = b.relu(b.current)
    b.dense(layer, 2)
    return SpikingNetwork(b.graph(), {layer: NeuronLayer(theta, v0, "single_spike")})


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), beta=st.floats(1e-3, 1.0), fired=st.floats(0.0, 1.0))
def test_the_rule_on_float32_values(seed, beta, fired):
    """m = β·v + I in float32; a spike where m ≥ θ unless the neuron has fired (v = SILENT); the new
    membrane is SILENT after a spike or once silent, else m."""
    rng = np.random.default_rng(seed)
    v, current = (rng.standard_normal((2, 64)) * 3).astype(np.float32)
    v[rng.random(64) < fired] = SILENT
    current[::7] = np.float32(1e30)  # no current lifts a silent neuron
    theta = (rng.random(64) * 2 + 0.05).astype(np.float32)
    beta = np.float32(beta)
    got, spike = single_spike_rule(v, current, theta, beta)
    m = v * beta + current
    assert got.dtype == np.float32
    np.testing.assert_array_equal(spike, (m >= theta) & (v != SILENT))
    np.testing.assert_array_equal(got, np.where(spike | (v == SILENT), SILENT, m))


@settings(max_examples=40)
@given(
    case=random_networks(),
    T=st.sampled_from([1, 2, 4, 8, 16]),
    engine=st.sampled_from(ENGINE_VARIANTS),
)
def test_engines_are_bit_identical_with_at_most_one_spike_per_neuron(case, T, engine):
    """Random conv/dense networks (max and average pools, residual adds, concats) made single-spike:
    every engine variant records what the reference records, and no neuron fires twice in a sample.
    A TTFS input spike carries 1/T: T a power of two keeps every sum exact, as the grid weights do
    (with 1/6 a neuron that sums to θ in one order may miss it in another, and engines sum in
    different orders)."""
    net, x = case
    net = single(net)
    runs = [
        simulate_with(e, net, x, T, encoding="ttfs", raster_samples=tuple(range(len(x))), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)
    for rasters in runs[0].rasters.values():
        for name, raster in rasters.items():
            assert raster.sum(axis=0).max(initial=0) <= 1, name
    for name, counts in runs[0].neuron_counts.items():
        assert counts.max(initial=0) <= len(x), name  # per neuron, summed over the samples


NEURONS = st.lists(st.tuples(st.floats(0.25, 4.0), st.floats(0.0, 0.99), st.floats(0.01, 2.0)), min_size=1, max_size=8)


@settings(max_examples=30)
@given(
    params=NEURONS,
    T=st.integers(1, 50),
    engine=st.sampled_from(ENGINES),
)
def test_one_spike_at_the_closed_form_time(params, T, engine):
    """A constant current I > 0 from v0 < θ (no leak): exactly one spike, at the first k with
    v0 + k·I ≥ θ, if k ≤ T; compared where float32 rounding cannot decide."""
    theta = np.array([p[0] for p in params], np.float32)
    v0 = (np.array([p[1] for p in params]) * theta).astype(np.float32)
    current = (np.array([p[2] for p in params]) * theta).astype(np.float32)
    net = constant_current_net(current, theta, v0)
    rec = simulate_with(engine, net, np.zeros((1, 1), np.float32), T, encoding="ttfs", raster_samples=(0,))
    raster = rec.rasters[0][net.layer_names[0]]
    for i in range(len(theta)):
        t, c, start = float(theta[i]), float(current[i]), float(v0[i])
        k = max(1, math.ceil((t - start) / c))
        if abs(start + k * c - t) < 1e-4 * t or abs(start + (k - 1) * c - t) < 1e-4 * t:
            continue
        expected = np.zeros(T, bool)
        if k <= T:
            expected[k - 1] = True
        np.testing.assert_array_equal(raster[:, i], expected, err_msg=str((i, k)))


def test_the_file_keeps_the_kind(tmp_path):
    rng = np.random.default_rng(1)
    net = constant_current_net(grid(rng, (4,), 0.125, 1.0, 0.125), np.float32(1), np.float32(0))
    net.save(tmp_path / "single.npz")
    again = SpikingNetwork.load(tmp_path / "single.npz")
    assert again.layers[again.layer_names[0]].kind == "single_spike"
    assert again.fingerprint() == net.fingerprint()
    assert again.required_encoding == "ttfs"
    assert_identical(*(eventsim.simulate(n, np.zeros((2, 1), np.float32), 9, encoding="ttfs") for n in (net, again)))


def test_the_kind_reads_ttfs_coded_input():
    net = constant_current_net([0.5], np.float32(1), np.float32(0))
    with pytest.raises(eventsim.errors.DataError, match="ttfs coding"):
        eventsim.simulate(net, np.zeros((1, 1), np.float32), 4, encoding="direct")


def test_the_readout_favours_early_spikes():
    """The TTFS reading: a spike k steps into a run of T stands for (T + 1 − k)/T of θ."""
    np.testing.assert_allclose(get_kind("single_spike").readout_weights(np.ones(4, np.float32)), [1, 0.75, 0.5, 0.25])


@pytest.mark.parametrize(
    "leak, reset, v0, words",
    [(0.0, "subtract", 0.0, "0 < β ≤ 1"), (1.5, "subtract", 0.0, "0 < β ≤ 1"), (1.0, "zero", 0.0, "no reset"),
     (1.0, "subtract", float(SILENT), "silent marker")],
)  # fmt: skip
def test_bad_layers_are_refused(leak, reset, v0, words):
    b = NetBuilder(np.random.default_rng(0), (3,), normalise=False)
    layer = b.relu(b.dense("x", 2))
    b.dense(layer, 2)
    with pytest.raises(ShapeError, match=words):
        SpikingNetwork(
            b.graph(), {layer: NeuronLayer(np.float32(1), np.float32(v0), "single_spike", leak=leak, reset=reset)}
        )


def test_single_spike_networks_are_trained_not_converted():
    b = NetBuilder(np.random.default_rng(0), (3,), normalise=False)
    b.dense(b.relu(b.dense("x", 2)), 2)
    with pytest.raises(UnsupportedError, match="eventsim.train") as info:
        eventsim.convert(b.graph(), None, "baseline", kind="single_spike")
    assert "'ttfs'" in info.value.fix
