"""Calibration (ALGORITHMS.md sections 1–3): thresholds, OPI, FTBC, presets."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder

import eventsim
from eventsim.conversion import PRESETS
from eventsim.conversion.thresholds import data_thresholds
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data
from eventsim.snn.network import NeuronLayer, SpikingNetwork

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


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


@settings(max_examples=12, **SETTINGS)
@given(T=st.integers(1, 32), theta=st.sampled_from([0.5, 1.0, 2.0, 3.0]))
def test_opi_expected_error_and_mse(T, theta):
    mean_half, mse_half = rate_errors(T, theta, 0.5)
    mean_zero, mse_zero = rate_errors(T, theta, 0.0)
    assert mean_half == pytest.approx(0.0, abs=1e-4 * theta)
    assert mean_zero == pytest.approx(-theta / (2 * T), rel=1e-3)
    assert mse_half == pytest.approx(theta**2 / (12 * T**2), rel=1e-3)
    assert mse_zero == pytest.approx(theta**2 / (3 * T**2), rel=1e-3)


@settings(max_examples=6, **SETTINGS)
@given(T=st.integers(1, 16))
def test_half_threshold_minimises_the_mse(T):
    fractions = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]
    mse = [rate_errors(T, 1.0, f, per_interval=16)[1] for f in fractions]
    assert int(np.argmin(mse)) == fractions.index(0.5)
    assert all(m > mse[4] for i, m in enumerate(mse) if i != 4)


@settings(max_examples=40, **SETTINGS)
@given(
    alpha=st.floats(0.05, 0.95), kind=st.sampled_from(["normal", "uniform", "exponential"]), seed=st.integers(0, 2**31)
)
def test_ftbc_quantile_lemma(alpha, kind, seed):
    """b* = θ − F⁻¹(1 − α) gives P(x + b* ≥ θ) = α: checked on the empirical distribution."""
    rng = np.random.default_rng(seed)
    x = {
        "normal": rng.normal(0.3, 0.4, 20000),
        "uniform": rng.uniform(-1, 1, 20000),
        "exponential": rng.exponential(0.5, 20000),
    }[kind]
    b = 1.0 - np.quantile(x, 1 - alpha, method="inverted_cdf")
    assert np.mean(x + b >= 1.0) == pytest.approx(alpha, abs=2 / len(x))


@pytest.fixture(scope="module")
def digits():
    return eventsim.load_onnx(example_model_path()), load_example_data()


def test_thresholds_per_channel_and_percentiles(digits):
    graph, data = digits
    x = data["x_calib"]
    layer = data_thresholds(graph, x, "max")
    channel = data_thresholds(graph, x, "max", per_channel=True)
    for name in layer:
        assert channel[name].shape == (graph.node(name).shape[0],)
        assert np.all(channel[name] <= layer[name])
        assert channel[name].max() == layer[name]
    previous = None
    for p in (50, 90, 99, 99.9, 99.99, 100):
        theta = data_thresholds(graph, x, "percentile", percentile=p)
        if previous is not None:
            assert all(theta[n] >= previous[n] for n in theta)
        previous = theta
    assert all(previous[n] == pytest.approx(layer[n]) for n in layer)  # the 100th percentile is the max


def test_percentile_is_exact_while_it_fits_and_close_beyond(digits):
    graph, data = digits
    x = data["x_calib"]
    _, acts = eventsim.run_ann(graph, x, record=True)
    streamed = data_thresholds(graph, x, "percentile", percentile=99, batch_size=7)
    sampled = data_thresholds(graph, x, "percentile", percentile=99, batch_size=7, max_values=5000)
    for name, a in acts.items():
        exact = np.percentile(a[a > 0], 99)
        assert streamed[name] == pytest.approx(exact, rel=1e-6)
        assert sampled[name] == pytest.approx(exact, rel=0.1)


@pytest.mark.parametrize("preset", ["robust", "opi-opt", "ftbc"])
def test_calibration_is_reproducible(digits, preset):
    graph, data = digits
    a = eventsim.convert(graph, data["x_calib"], preset, T=8, per_channel=True)
    b = eventsim.convert(graph, data["x_calib"], preset, T=8, per_channel=True)
    for name in a.layers:
        for field in ("threshold", "v0", "temporal_bias"):
            left, right = getattr(a.layers[name], field), getattr(b.layers[name], field)
            assert (left is None and right is None) or np.array_equal(left, right)


def spike_error(net, x, T):
    """Per layer: mean |mean over samples and positions of θ·s(t) − a| over channels and steps."""
    rec = eventsim.simulate(net, x, T, raster_samples=range(len(x)))
    _, acts = eventsim.run_ann(net.graph, x, record=True)
    out = {}
    for node in net.graph.activation_nodes():
        spikes = np.stack([rec.rasters[i][node.name] for i in range(len(x))], axis=1)  # (T, N) + shape
        theta = net.threshold_array(node.name)
        error = theta * spikes - acts[node.name][None]
        axes = (1,) + tuple(range(3, error.ndim))
        out[node.name] = float(np.abs(error.mean(axis=axes)).mean())
    return out


@pytest.mark.parametrize("model", example_names() + ["qcfs_cnn.onnx", "mobilenet_relu6.onnx", "resnet_tiny.onnx"])
def test_ftbc_reduces_the_channel_error(model):
    """On every bundled model (its calibration split) and on exported test models (random inputs)."""
    if not model.endswith(".onnx"):
        graph = eventsim.load_onnx(example_model_path(model))
        x = load_example_data(example_data_name(model))["x_calib"][:200]
    else:
        graph = eventsim.load_onnx(MODELS / model)
        x = np.random.default_rng(0).random((200,) + graph.input_shape, dtype=np.float32)
    T = 8
    plain = eventsim.convert(graph, x, "opi")
    corrected = eventsim.convert(graph, x, "ftbc", T=T, ftbc_batch_size=100, ftbc_batches=2)
    before, after = spike_error(plain, x, T), spike_error(corrected, x, T)
    assert sum(after.values()) < sum(before.values())
    # the deepest neuron layer, whose input carries every earlier layer's error, improves most
    last = graph.activation_nodes()[-1].name
    assert after[last] < before[last]
    assert corrected.meta["ftbc_calibration"]["T"] == T


def test_ftbc_biases_have_one_row_per_step(digits):
    graph, data = digits
    net = eventsim.convert(graph, data["x_calib"], "ftbc", T=6)
    for node in graph.activation_nodes():
        bias = net.layers[node.name].temporal_bias
        assert bias.shape == (6, node.shape[0])
        assert not np.shares_memory(bias[0], bias[1])
    rec = eventsim.simulate(net, data["x_test"][:8], 10)
    assert rec.settings["bias_steps"] == 6


def test_presets_and_their_errors(digits):
    graph, data = digits
    x = data["x_calib"]
    assert set(PRESETS) == {"baseline", "robust", "opi", "opi-opt", "qcfs", "ftbc", "bsnn", "ttfs"}
    base = eventsim.convert(graph, x, "baseline")
    assert all(float(layer.v0.max()) == 0 for layer in base.layers.values())
    opi = eventsim.convert(graph, x, "opi")
    for name, layer in opi.layers.items():
        assert np.array_equal(layer.threshold, base.layers[name].threshold)
        assert np.allclose(layer.v0, layer.threshold / 2)
    with pytest.raises(ValueError, match="valid presets"):
        eventsim.convert(graph, x, "fancy")
    with pytest.raises(ValueError, match="valid options"):
        eventsim.convert(graph, x, "opi", colour="red")
    with pytest.raises(ValueError, match="pass T"):
        eventsim.convert(graph, x, "ftbc")
    with pytest.raises(eventsim.UnsupportedError, match="QCFS"):
        eventsim.convert(graph, x, "qcfs")
    with pytest.raises(eventsim.DataError, match="calibration data"):
        eventsim.convert(graph, None, "baseline")
    qcfs_graph = eventsim.load_onnx(MODELS / "qcfs_cnn.onnx")
    qnet = eventsim.convert(qcfs_graph, None, "qcfs")
    assert [float(layer.threshold) for layer in qnet.layers.values()] == [2.0, 3.0]


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
