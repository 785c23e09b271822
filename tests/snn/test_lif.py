"""Leaky integrate-and-fire neurons (``lif``): closed forms of one neuron under a constant current,
the IF rule as the case β = 1, every engine bit-identical to the reference on LIF networks, the phase
that carries β and the reset, the file, and what is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid, random_networks

import eventsim
from eventsim.errors import ModelFileError, ShapeError, UnsupportedError
from eventsim.snn.kinds import IDLE, RESETS, get_kind, if_rule, lif_rule
from eventsim.snn.network import NeuronLayer, SpikingNetwork
from eventsim.snn.network_file import network_arrays, network_from_parts

ENGINES = ["reference"] + ENGINE_VARIANTS
#: Leaks on a binary grid: β·v stays a short binary fraction, so the engines' sums stay exact.
GRID_LEAKS = [0.5, 0.75, 0.875, 1.0]


def constant_current_net(currents, theta, v0, leak: float, reset: str) -> SpikingNetwork:
    """input (1,) → dense with W = 0 and bias ``currents`` → a LIF layer → dense (2 outputs): each
    LIF neuron receives exactly its current, every step."""
    currents = np.asarray(currents, np.float32)
    b = NetBuilder(np.random.default_rng(0), (1,), normalise=False)
    b.add("dense", ["x"], {}, {"W": np.zeros((len(currents), 1), np.float32), "b": currents})
    layer = b.relu(b.current)
    b.dense(layer, 2)
    return SpikingNetwork(b.graph(), {layer: NeuronLayer(theta, v0, "lif", leak=leak, reset=reset)})


def run_rasters(net: SpikingNetwork, T: int, engine) -> np.ndarray:
    """The LIF layer's spike train (T, neurons) of one sample under ``engine``."""
    rec = simulate_with(engine, net, np.zeros((1, 1), np.float32), T, raster_samples=(0,))
    return rec.rasters[0][net.layer_names[0]]


def membrane(k: int, beta: float, current: float, v0: float) -> float:
    """m_k = β^k v0 + I(1 − β^k)/(1 − β): the membrane in step k (1-based) before any spike."""
    return beta**k * v0 + current * (1 - beta**k) / (1 - beta)


def first_spike(beta: float, current: float, theta: float, v0: float) -> int | None:
    """The first k with m_k ≥ θ for v0 < θ (closed form through logs), None if m_k never gets there:
    m_k rises from v0 toward L = I/(1 − β) and reaches θ < L when β^k ≤ (L − θ)/(L − v0)."""
    limit = current / (1 - beta)
    if limit <= theta:
        return None
    return max(1, math.ceil(math.log((limit - theta) / (limit - v0)) / math.log(beta)))


def clear_of_rounding(k: int | None, beta: float, current: float, theta: float, v0: float) -> bool:
    """Whether m_k crosses θ at k by a margin that float32 rounding over the steps cannot undo
    (relative 1e-4); with no crossing, whether L stays that far below θ."""
    margin = 1e-4 * theta
    if k is None:
        return current / (1 - beta) < theta - margin
    after = membrane(k, beta, current, v0) - theta
    before = theta - membrane(k - 1, beta, current, v0)
    return after > margin and before > margin


neurons = st.lists(st.tuples(st.floats(0.25, 4.0), st.floats(0.0, 0.99), st.floats(0.2, 12.0)), min_size=1, max_size=8)


def draw_neurons(params, beta: float):
    """θ, v0 ∈ [0, θ) and I with I/(1 − β) = ratio·θ per neuron, as float32, and the float64 values of
    those float32s (the closed forms start from what the network holds)."""
    theta = np.array([p[0] for p in params], np.float32)
    v0 = (np.array([p[1] for p in params]) * theta).astype(np.float32)
    current = (np.array([p[2] for p in params]) * theta * (1 - np.float64(np.float32(beta)))).astype(np.float32)
    return theta, v0, current


@settings(max_examples=30)
@given(params=neurons, beta=st.floats(0.05, 0.98), T=st.integers(1, 60), engine=st.sampled_from(ENGINES))
def test_time_to_first_spike_is_the_closed_form(params, beta, T, engine):
    """Constant current I from v0 (reset by subtraction): the first spike comes at the first k with
    β^k v0 + I(1 − β^k)/(1 − β) ≥ θ, never when I/(1 − β) < θ; compared where rounding cannot decide."""
    theta, v0, current = draw_neurons(params, beta)
    b64 = float(np.float32(beta))
    raster = run_rasters(constant_current_net(current, theta, v0, beta, "subtract"), T, engine)
    checked = 0
    for i in range(len(theta)):
        k = first_spike(b64, float(current[i]), float(theta[i]), float(v0[i]))
        if not clear_of_rounding(k, b64, float(current[i]), float(theta[i]), float(v0[i])):
            continue
        fired = np.flatnonzero(raster[:, i])
        got = int(fired[0]) + 1 if len(fired) else None
        assert got == (k if k is not None and k <= T else None), (i, k, got)
        checked += 1
    assume(checked)


@settings(max_examples=30)
@given(params=neurons, beta=st.floats(0.05, 0.98), T=st.integers(1, 60), engine=st.sampled_from(ENGINES))
def test_reset_to_zero_fires_periodically(params, beta, T, engine):
    """From v0 = 0 with reset to zero every spike restarts the same trajectory: spikes exactly at the
    multiples of the closed-form first spike time (period); none when I/(1 − β) < θ."""
    theta, _, current = draw_neurons(params, beta)
    b64 = float(np.float32(beta))
    net = constant_current_net(current, theta, np.zeros_like(theta), beta, "zero")
    raster = run_rasters(net, T, engine)
    checked = 0
    for i in range(len(theta)):
        period = first_spike(b64, float(current[i]), float(theta[i]), 0.0)
        if not clear_of_rounding(period, b64, float(current[i]), float(theta[i]), 0.0):
            continue
        steps = np.arange(1, T + 1)
        expected = np.zeros(T, bool) if period is None else steps % period == 0
        np.testing.assert_array_equal(raster[:, i], expected)
        checked += 1
    assume(checked)


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 40), engine=st.sampled_from(ENGINES))
def test_without_leak_the_rate_is_current_over_threshold(seed, T, engine):
    """β = 1 (reset by subtraction): N_T = clip(⌊(v0 + T·I)/θ⌋, 0, T) as for IF, so the rate θN_T/T
    tends to I, within θ/T for 0 ≤ I ≤ θ."""
    rng = np.random.default_rng(seed)
    theta = grid(rng, (8,), 0.25, 2.0, 0.25)
    v0 = (grid(rng, (8,), 0.0, 0.875, 0.125) * theta).astype(np.float32)
    current = (grid(rng, (8,), 0.0, 1.0, 0.125) * theta).astype(np.float32)
    count = run_rasters(constant_current_net(current, theta, v0, 1.0, "subtract"), T, engine).sum(axis=0)
    expected = np.clip(np.floor((v0.astype(np.float64) + T * current) / theta), 0, T)
    np.testing.assert_array_equal(count, expected)
    assert np.all(np.abs(theta * count / T - current) <= theta / T + 1e-6)


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), beta=st.floats(1e-6, 1.0), subtract=st.booleans())
def test_the_rule_is_one_expression_for_both_resets(seed, beta, subtract):
    """On arbitrary float32 values: m = v·|phase| + I; reset by subtraction for phase > 0, to 0 for
    phase < 0, all in float32; with phase 1 bit-identical to the IF rule."""
    rng = np.random.default_rng(seed)
    v, current = (rng.standard_normal((2, 64)) * 3).astype(np.float32)
    theta = (rng.random(64) * 2 + 0.05).astype(np.float32)
    beta = np.float32(beta)
    phase = beta if subtract else -beta
    m = v * beta + current
    got, spike = lif_rule(v, current, theta, np.float32(phase))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(spike, m >= theta)
    np.testing.assert_array_equal(got, np.where(spike, m - theta if phase > 0 else np.float32(0), m))
    for a, b in zip(lif_rule(v, current, theta, np.float32(1)), if_rule(v, current, theta, np.float32(3))):
        np.testing.assert_array_equal(a, b)


def leaky(net: SpikingNetwork, rng: np.random.Generator, leaks=GRID_LEAKS) -> SpikingNetwork:
    """``net`` with every layer LIF: same θ (per layer or per channel) and v0, a leak drawn from
    ``leaks`` and a reset mode per layer."""
    layers = {
        name: NeuronLayer(x.threshold, x.v0, "lif", leak=float(rng.choice(leaks)), reset=str(rng.choice(RESETS)))
        for name, x in net.layers.items()
    }
    return SpikingNetwork(net.graph, layers)


@settings(max_examples=40)
@given(
    case=random_networks(),
    seed=st.integers(0, 2**31),
    encoding=st.sampled_from(["direct", "rate"]),
    T=st.integers(1, 16),
    engine=st.sampled_from(ENGINE_VARIANTS),
)
def test_every_engine_is_bit_identical_on_lif_networks(case, seed, encoding, T, engine):
    """Random conv/dense LIF networks (both resets, thresholds per layer or channel, leaks 1/2, 3/4,
    7/8, 1) on a binary grid: every engine variant records what the reference records, bit for bit."""
    net, x = case
    net = leaky(net, np.random.default_rng(seed))
    runs = [
        simulate_with(e, net, x, T, encoding=encoding, seed=3, raster_samples=(0,), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)


@settings(max_examples=25)
@given(case=random_networks(), T=st.integers(1, 12), engine=st.sampled_from(ENGINES))
def test_lif_without_leak_reset_by_subtraction_is_if(case, T, engine):
    """β = 1 with reset by subtraction records exactly what IF records, in every engine."""
    net, x = case
    lif = leaky(net, np.random.default_rng(0), leaks=[1.0])
    for layer in lif.layers.values():
        layer.reset = "subtract"
    runs = [simulate_with(engine, n, x, T, raster_samples=(0,)) for n in (net, lif)]
    assert_identical(*runs)


def test_the_phase_carries_the_leak_and_the_reset():
    """+β in every step for reset by subtraction, −β for reset to zero: never 0 (idle); the rate
    readout weighs every step 1/T."""
    net = constant_current_net([0.5, 1.0], np.float32(1), np.float32(0), 0.75, "subtract")
    np.testing.assert_array_equal(net.phases(5), np.full((1, 5), 0.75, np.float32))
    net.layers[net.layer_names[0]].reset = "zero"
    phases = net.phases(5)
    np.testing.assert_array_equal(phases, np.full((1, 5), -0.75, np.float32))
    assert phases.dtype == np.float32 and not np.any(phases == IDLE)
    np.testing.assert_allclose(get_kind("lif").readout_weights(phases[0]), np.full(5, 1 / 5))


def test_the_file_keeps_leak_and_reset(tmp_path):
    net = constant_current_net([0.5, 1.0, 1.5], np.float32([1, 0.5, 2]), np.float32(0), 0.875, "zero")
    net.save(tmp_path / "lif.npz")
    again = SpikingNetwork.load(tmp_path / "lif.npz")
    layer = again.layers[again.layer_names[0]]
    assert (layer.kind, layer.leak, layer.reset) == ("lif", 0.875, "zero")
    assert again.fingerprint() == net.fingerprint()
    assert_identical(*(eventsim.simulate(n, np.zeros((2, 1), np.float32), 12) for n in (net, again)))
    description, arrays = network_arrays(net)  # the parts a training checkpoint stores
    rebuilt = network_from_parts(description, arrays).layers[net.layer_names[0]]
    assert (rebuilt.leak, rebuilt.reset) == (0.875, "zero")
    layer.leak = 0.75  # the fingerprint follows the leak and the reset
    assert again.fingerprint() != net.fingerprint()


def test_files_without_leak_and_reset_load_with_the_defaults(models_dir):
    """Files written before layers had a leak (format v1 of eventsim 0.1.0): no leak, reset by
    subtraction."""
    net = SpikingNetwork.load(models_dir / "digits_cnn_ftbc_v1.npz")
    assert {(x.leak, x.reset) for x in net.layers.values()} == {(1.0, "subtract")}


@pytest.mark.parametrize(
    "kind, leak, reset, words",
    [
        ("lif", 0.0, "subtract", "0 < β ≤ 1"),
        ("lif", -0.5, "subtract", "0 < β ≤ 1"),
        ("lif", 1.5, "subtract", "0 < β ≤ 1"),
        ("lif", float("nan"), "zero", "finite leak"),
        ("lif", float("inf"), "zero", "finite leak"),
        ("lif", 1e-50, "zero", "float32"),  # 0 in the float32 phase table, which would mean idle
        ("lif", "0.5", "zero", "finite leak"),
        ("lif", 0.5, "none", "reset"),
        ("if", 0.5, "subtract", "kind 'lif'"),
        ("if", 1.0, "zero", "kind 'lif'"),
        ("bistable", 0.9, "subtract", "kind 'lif'"),
    ],
)
def test_bad_leak_or_reset_is_refused(kind, leak, reset, words):
    b = NetBuilder(np.random.default_rng(0), (3,), normalise=False)
    layer = b.relu(b.dense("x", 2))
    b.dense(layer, 2)
    period, stage = (2, 1) if kind == "bistable" else (0, 0)
    with pytest.raises(ShapeError, match=words):
        SpikingNetwork(
            b.graph(), {layer: NeuronLayer(np.float32(1), np.float32(0), kind, None, period, stage, leak, reset)}
        )


def test_a_file_with_a_bad_leak_is_refused(tmp_path):
    net = constant_current_net([0.5], np.float32(1), np.float32(0), 0.5, "subtract")
    net.save(tmp_path / "lif.npz")
    with np.load(tmp_path / "lif.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(arrays["__meta__"].tobytes().decode())
    meta["layers"][net.layer_names[0]]["leak"] = 2.0
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match="leak"):
        SpikingNetwork.load(tmp_path / "bad.npz")


def test_lif_networks_are_trained_not_converted():
    b = NetBuilder(np.random.default_rng(0), (3,), normalise=False)
    b.dense(b.relu(b.dense("x", 2)), 2)
    with pytest.raises(UnsupportedError, match="eventsim.train") as info:
        eventsim.convert(b.graph(), None, "baseline", kind="lif")
    assert "'if'" in info.value.fix
    with pytest.raises(UnsupportedError, match="eventsim.train"):
        get_kind("lif").build(b.graph(), {}, {})


def test_the_membrane_dynamics_the_trainer_differentiates():
    """IF is the leaky rule with β = 1 and reset by subtraction, LIF its layer's; the scheduled kinds
    follow other rules."""
    layer = NeuronLayer(np.float32(1), np.float32(0), "lif", leak=0.75, reset="zero")
    assert get_kind("lif").membrane_dynamics(layer) == (0.75, "zero")
    assert get_kind("if").membrane_dynamics(NeuronLayer(np.float32(1), np.float32(0))) == (1.0, "subtract")
    scheduled = NeuronLayer(np.float32(1), np.float32(0), "ttfs", period=2, stage=1)
    assert (
        get_kind("ttfs").membrane_dynamics(scheduled) is None and get_kind("bistable").membrane_dynamics(layer) is None
    )
