"""FTBC: temporal biases per channel and step, against a closed form of the first step and the error
reduction the method promises."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid

import eventsim
from eventsim.conversion.ftbc import calibrate_ftbc
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data
from eventsim.snn.network import NeuronLayer, SpikingNetwork


def _dense_layer(rng, n_in: int, n_out: int, theta: float) -> SpikingNetwork:
    """input → dense (grid weights) → IF layer (θ, v0 = θ/2) → dense: each neuron is its own channel."""
    b = NetBuilder(rng, (n_in,), normalise=False)
    b.relu(b.dense("x", n_out))
    b.dense(b.current, 2)
    graph = b.graph()
    name = graph.activation_nodes()[0].name
    return SpikingNetwork(graph, {name: NeuronLayer(np.float32(theta), np.float32(theta / 2))})


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**31),
    alpha=st.sampled_from([0.25, 0.4, 0.5, 1.0]),
    theta=st.sampled_from([0.5, 1.0, 2.0]),
    T=st.integers(1, 6),
)
def test_first_step_bias_is_alpha_times_the_mean_first_step_error(seed, alpha, theta, T):
    """b[1] = α · mean over the batch of (θ·[v0 + z ≥ θ] − relu(z)), per neuron of a dense layer whose
    input z is the same in every step (direct coding): the first step's error in closed form."""
    rng = np.random.default_rng(seed)
    net = _dense_layer(rng, 5, 6, theta)
    x = grid(rng, (int(rng.integers(1, 9)), 5), 0.0, 1.0, 0.125)
    calibrate_ftbc(net, x, T, alpha, batches=1, batch_size=len(x))
    dense, name = net.graph.nodes[1], net.graph.nodes[2].name
    z = x.astype(np.float64) @ dense.params["W"].T + dense.params["b"]
    error = theta * (theta / 2 + z >= theta) - np.maximum(z, 0)
    bias = net.layers[name].temporal_bias
    assert bias.shape == (T, 6)
    np.testing.assert_allclose(-bias[0], alpha * error.mean(axis=0), rtol=1e-6, atol=1e-7)


def test_batches_add_up_in_the_first_layer(digits):
    """As in the authors' code, a batch's error leaves out the layer's own bias from earlier batches,
    so the first layer's bias (whose input no other bias changes) is the sum of the batches' own."""
    graph, data = digits
    x, T = data["x_calib"][:80], 4
    both = eventsim.convert(graph, x, "opi")
    calibrate_ftbc(both, x, T, batches=2, batch_size=40, seed=3)
    order = np.random.default_rng(3).permutation(len(x))
    parts = []
    for chunk in (order[:40], order[40:]):
        single = eventsim.convert(graph, x, "opi")
        calibrate_ftbc(single, x[np.sort(chunk)], T, batches=1, batch_size=40)
        parts.append(single)
    first = graph.activation_nodes()[0].name
    summed = parts[0].layers[first].temporal_bias + parts[1].layers[first].temporal_bias
    np.testing.assert_array_equal(both.layers[first].temporal_bias, summed)


def test_the_bias_of_a_step_depends_only_on_the_steps_up_to_it(digits):
    """Calibrating for T = 3 and for T = 7 gives the same first 3 rows in every layer: one network
    calibrated for the largest T serves every smaller T (what compare relies on)."""
    graph, data = digits
    x = data["x_calib"][:60]
    short = eventsim.convert(graph, x, "ftbc", T=3, ftbc_batches=2, ftbc_batch_size=30)
    long = eventsim.convert(graph, x, "ftbc", T=7, ftbc_batches=2, ftbc_batch_size=30)
    for name, layer in short.layers.items():
        np.testing.assert_array_equal(layer.temporal_bias, long.layers[name].temporal_bias[:3])


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
