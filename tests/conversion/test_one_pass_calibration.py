"""Calibration in one pass per batch (``DenseDynamics.run_layers``) gives exactly the networks that
re-running every layer's prefix step by step gave: the oracle below records each layer's currents
with the reference semantics (``DenseDynamics.step``), after the layers before it were calibrated,
and applies the same per-layer rules (FTBC's correction, OPI's grid search)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import random_networks, single_layer
from stepwise_calibration import stepwise_currents, stepwise_ftbc, stepwise_opi

import eventsim
from eventsim.conversion.currents import calibrate_layers
from eventsim.conversion.ftbc import errors_stepwise, layer_errors
from eventsim.conversion.opi import counts_stepwise, layer_counts
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data
from eventsim.snn.dynamics import DenseDynamics
from eventsim.snn.kinds import KINDS
from eventsim.snn.network import NeuronLayer

MODELS = example_names()


@pytest.mark.parametrize("model", MODELS)
def test_ftbc_in_one_pass_equals_the_stepwise_calibration_on_every_bundled_model(model):
    data = load_example_data(example_data_name(model))
    graph = eventsim.load_onnx(example_model_path(model))
    x = data["x_calib"][:90]
    T = 6
    fast = eventsim.convert(graph, x, "ftbc", T=T, ftbc_batch_size=40)
    slow = eventsim.convert(graph, x, "opi", T=T)  # the same thresholds and v0, no biases yet
    stepwise_ftbc(slow, x, T, batch_size=40)
    for name in fast.layers:
        np.testing.assert_array_equal(fast.layers[name].temporal_bias, slow.layers[name].temporal_bias, err_msg=name)


@pytest.mark.parametrize("model", ["digits_cnn", "mnist_resnet"])
def test_optimised_v0_in_one_pass_equals_the_stepwise_search(model):
    """The oracle: each layer's v0 chosen on currents from a fresh step-by-step prefix run, with the
    layer's rate error written out in the oracle (stepwise_opi)."""
    data = load_example_data(example_data_name(model))
    graph = eventsim.load_onnx(example_model_path(model))
    x, T = data["x_calib"][:60], 5
    fast = eventsim.convert(graph, x, "opi-opt", T=T, opi_samples=60)
    slow = eventsim.convert(graph, x, "opi", T=T)
    stepwise_opi(slow, x, T)
    for name, layer in slow.layers.items():
        np.testing.assert_allclose(fast.layers[name].v0, layer.v0, rtol=0, atol=1e-6 * float(np.max(layer.threshold)))


@settings(max_examples=25, deadline=None)
@given(random_networks(), st.integers(1, 6))
def test_every_layer_sees_the_currents_of_a_stepwise_run(case, T):
    """On random networks (convs, pools, residual adds, concats, upsampling): the currents handed to
    each layer equal a fresh step-by-step run's, also after the layers before it were changed on the
    way (each v0 moves by θ/4 as the pass reaches it) — with the compiled neuron loop and parts on all
    cores (calibrate_layers), and with the plain NumPy defaults of ``DenseDynamics.run_layers``."""
    net, x = case
    start = {name: layer.v0.copy() for name, layer in net.layers.items()}
    paths = {
        "calibrate_layers": lambda settle: calibrate_layers(net, x, T, settle),
        "run_layers": lambda settle: DenseDynamics(net, x, T).run_layers(T, settle),
    }
    for path, run in paths.items():
        for name, layer in net.layers.items():
            layer.v0 = start[name].copy()
        seen = {}

        def settle(name, currents, seen=seen):
            seen[name] = np.array(currents)
            layer = net.layers[name]
            layer.v0 = (layer.v0 + np.float32(0.25) * layer.threshold).astype(np.float32)  # changes what follows

        run(settle)
        for name in net.layers:
            np.testing.assert_array_equal(seen[name], stepwise_currents(net, x, T, name), err_msg=f"{path} {name}")


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    seed=st.integers(0, 2**31),
    T=st.integers(1, 12),
    period=st.integers(1, 3),
    leak=st.sampled_from([0.5, 0.9, 1.0]),
)
def test_the_compiled_calibration_loops_equal_their_numpy_twins(kind, seed, T, period, leak):
    """FTBC's errors on the corrected trajectory and OPI's spike counts from v0 = f·θ: the compiled
    loops give, bit for bit, what the kind's NumPy rule gives step by step, for every kind, on
    arbitrary float currents and targets."""
    rng = np.random.default_rng(seed)
    net = single_layer(rng, 3, 5, 1.0, 0.5)
    name = net.layer_names[0]
    leaky = {"leak": leak, "reset": "subtract"} if kind == "lif" else {"burst": period + 1} if kind == "burst" else {}
    theta = rng.uniform(0.25, 2.0, 5).astype(np.float32)
    net.layers[name] = NeuronLayer(theta, (theta * np.float32(0.4)).astype(np.float32), kind, period=period,
                                   stage=1, **leaky)  # fmt: skip
    currents = rng.normal(0.3, 1.0, (T, 4, 5)).astype(np.float32)
    target = rng.uniform(0, 2, (4, 5)).astype(np.float32)
    np.testing.assert_array_equal(
        layer_errors(net, name, currents, target, T), errors_stepwise(net, name, currents, target, T)
    )
    fractions = np.array([0.0, 0.3, 0.5, 1.0], np.float32)
    counts = layer_counts(net, name, currents, fractions, T)
    for fraction, count in zip(fractions, counts, strict=True):
        np.testing.assert_array_equal(count, counts_stepwise(net, name, currents, fraction, T))
