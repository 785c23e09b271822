"""FTBC: temporal biases per channel and step, against a closed form of the first step and the error
reduction the method promises."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data


@settings(max_examples=40)
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
