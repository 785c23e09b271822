"""TTFS training (single-spike neurons, ``eventsim.train(..., kind="single_spike")``) against
independent oracles: finite differences of the smooth relaxation, the engines, the spike count, the
initialisation's spike-time distribution layer by layer, and the linear temporal decoding."""

from __future__ import annotations

import json

import numpy as np
from checks import kink_near_zero, simulate_with
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, random_networks
from test_backward import loss_of, without_max_pooling
from test_train import blobs, mlp

import eventsim
from eventsim import Graph, Node
from eventsim.ir.executor import run_ann
from eventsim.snn.network import NeuronLayer, SpikingNetwork
from eventsim.training.backward import backward
from eventsim.training.estimators import surrogate
from eventsim.training.forward import forward
from eventsim.training.losses import output_loss
from eventsim.training.neuron_grads import NEURON_PARAMS
from eventsim.training.prepare import training_network
from eventsim.training.trainer import trainable


def single(net: SpikingNetwork) -> SpikingNetwork:
    layers = {name: NeuronLayer(x.threshold, x.v0, "single_spike") for name, x in net.layers.items()}
    return SpikingNetwork(net.graph, layers, decoding="temporal")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=random_networks(), seed=st.integers(0, 2**16))
def test_the_smooth_relaxation_matches_finite_differences(case, seed):
    """Single-spike layers with S = σ(u/w) before the first hard spike (u ≥ 0) and silence after it
    (the mask a stop-gradient): BPTT gives the exact gradient of W, b, θ, v0, the temporal biases and
    the decoding weights (central differences, Richardson-extrapolated, along random directions;
    directions along which a hard spike moves to another step are skipped: there the relaxation
    jumps)."""
    net, x = case
    rng = np.random.default_rng(seed)
    net = training_network(single(without_max_pooling(net)))
    T, estimator = 6, surrogate("sigmoid", width=0.5)
    net.decode_weights = rng.uniform(0.5, 1.5, T).astype(np.float32)
    for name, layer in net.layers.items():
        layer.temporal_bias = rng.normal(0, 0.1, (3,)).astype(np.float32)
    x = np.clip(x + rng.uniform(0, 0.05, x.shape), 0, 1).astype(np.float32)
    params = trainable(net)
    for p in params.values():
        p += rng.normal(0, 0.02, p.shape).astype(np.float32)
    y = rng.integers(0, int(np.prod(net.graph.output_shape)), len(x))
    tape = forward(net, x, T, estimator, sparse=False, encoding="ttfs")
    grads = backward(tape, output_loss(tape.output, y, "sum")[1], estimator, neuron_params=NEURON_PARAMS)
    analytic = {f"{node}/{key}": g for (node, key), g in grads.params.items()}
    for name, own in grads.layers.items():
        for key, g in own.items():
            params[f"layer/{name}/{key}"] = getattr(net.layers[name], key)
            analytic[f"layer/{name}/{key}"] = g
    params["decode_weights"], analytic["decode_weights"] = net.decode_weights, grads.decode_weights
    checked = 0
    for key, p in params.items():
        d = rng.normal(size=p.shape)
        d /= np.linalg.norm(d)
        original = p.copy()

        def at(eps):
            p[...] = original + eps * d
            value = loss_of(net, x, y, T, estimator, encoding="ttfs")
            p[...] = original
            return value

        def difference(eps):
            return (at(eps) - at(-eps)) / (2 * eps)

        tiny, small, large = difference(5e-4), difference(1e-3), difference(2e-3)
        if max(tiny, small, large) - min(tiny, small, large) > 0.05 * max(abs(tiny), abs(small), abs(large)) + 1e-4:
            continue  # a hard spike moved within a step (a jump ~ 1/eps): the stop-gradient mask changed
        if kink_near_zero(at, small, large, eps=1e-3):
            continue  # the same, so close to 0 that every step straddles it alike
        numeric = (4 * small - large) / 3
        got = float((analytic.get(key, np.zeros_like(p)).astype(np.float64) * d).sum())
        assert abs(numeric - got) <= 0.03 * max(abs(numeric), abs(got)) + 2e-4, (key, numeric, got)
        checked += 1
    assert checked > 0


def test_a_trained_ttfs_network_fires_once_and_runs_exactly_in_the_engines():
    """From scratch (random init, TTFS-coded input, learned temporal decoding): the network learns
    separable blobs; in every engine it records exactly the training forward's output; no neuron
    fires twice for a sample."""
    x, y = blobs(n=96, n_in=12)
    result = eventsim.train(
        mlp(), x, y, 8, kind="single_spike", init="random", decoding="temporal", learn_decoding=True,
        estimator="fast_sigmoid", epochs=8, batch_size=16, lr=0.01,
    )  # fmt: skip
    net = result.net
    assert {layer.kind for layer in net.layers.values()} == {"single_spike"}
    assert net.decode_weights is not None and result.history[-1].train_accuracy > 0.6
    tape = forward(net, x, 8, eventsim.training.parse_estimator("fast_sigmoid"), encoding="ttfs", sparse=True)
    every = tuple(range(len(x)))
    for variant in ("reference", "event", "layer"):
        rec = simulate_with(variant, net, x, 8, raster_samples=every)
        np.testing.assert_array_equal(rec.outputs, np.moveaxis(tape.output, 0, 1))
        for sample in every:
            for name, raster in rec.rasters[sample].items():
                assert raster.sum(axis=0).max(initial=0) <= 1, (variant, sample, name)
    assert net.meta["training"]["encoding"] == "ttfs"


def first_spike_times(net: SpikingNetwork, x: np.ndarray, T: int) -> dict[str, np.ndarray]:
    """Per layer, the 1-based step of every (sample, neuron)'s spike, 0 where it never fires."""
    rec = eventsim.simulate(net, x, T, raster_samples=tuple(range(len(x))))
    times = {}
    for name in net.layer_names:
        rasters = np.stack([rec.rasters[i][name].reshape(T, -1) for i in range(len(x))])  # (N, T, n)
        fired = rasters.any(axis=1)
        times[name] = np.where(fired, rasters.argmax(axis=1) + 1, 0)
    return times


def deep_mlp(depth: int, width: int, n_in: int, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    identity = {"scale": np.ones(()), "shift": np.zeros(())}
    nodes = [Node("x", "input", (), {"source_shape": (n_in,), "perm": (0,)}, identity)]
    previous, size = "x", n_in
    for i in range(depth):
        params = {"W": rng.normal(size=(width, size)), "b": np.zeros(width)}
        nodes.append(Node(f"fc{i}", "dense", (previous,), {}, params))
        nodes.append(Node(f"a{i}", "relu", (f"fc{i}",)))
        previous, size = f"a{i}", width
    nodes.append(Node("out", "dense", (previous,), {}, {"W": rng.normal(size=(3, size)), "b": np.zeros(3)}))
    return Graph(nodes, "out")


def test_the_initialisation_keeps_every_layer_firing_inside_the_window():
    """Six single-spike layers from a random init (one training step at a negligible rate, so the
    network is the initialisation): in every layer a fair share of the neurons fire for a sample, and
    their spikes spread inside the window — while the plain ±1/√fan-in draw of
    the same weights, without the rescaling, leaves the deep layers silent (information
    diminishing)."""
    T = 16
    x, y = blobs(n=64, n_in=12)
    net = eventsim.train(
        deep_mlp(6, 32, 12), x, y, T, kind="single_spike", init="random", epochs=1, batch_size=64, lr=1e-12
    ).net
    for name, times in first_spike_times(net, x, T).items():
        fired = times > 0
        assert 0.2 <= fired.mean() <= 0.8, (name, fired.mean())
        # spread inside the window: neither collapsed into the first step (a cascade that erases the
        # input's timing) nor crowded at the end
        assert 2 <= np.median(times[fired]) < 0.75 * T, (name, np.median(times[fired]))
    rec = eventsim.simulate(net, x, T, raster_samples=range(len(x)))
    oracle = first_spike_times(net, x, T)
    for name, times in rec.first_spike_steps().items():  # the recording's own reading agrees
        np.testing.assert_array_equal(times, oracle[name])
    from eventsim.measure.plots import spike_times_png

    assert spike_times_png(rec.first_spike_steps(), T)[:4] == b"\x89PNG"
    plain = training_network(deep_mlp(6, 32, 12), kind="single_spike", init="random")
    deepest = first_spike_times(plain, x, T)[plain.layer_names[-1]]
    assert (deepest > 0).mean() < 0.05


def test_temporal_decoding_is_linear_in_the_output_currents():
    """o(T) = b + Σ_t w_t (I_out(t) − b), with I_out(t) = W·(θ s(t)) + b from the last layer's raster:
    an independent sum over the recorded spikes."""
    rng = np.random.default_rng(3)
    x, _ = blobs(n=8, n_in=12)
    net = training_network(mlp(), kind="single_spike", decoding="temporal")
    net.decode_weights = rng.uniform(-1, 2, 6).astype(np.float32)
    rec = eventsim.simulate(net, x, 6, raster_samples=tuple(range(len(x))))
    out = net.graph.node("fc2")
    theta = net.layers["a1"].threshold
    for i in range(len(x)):
        spikes = rec.rasters[i]["a1"].reshape(6, -1).astype(np.float64)
        currents = spikes * theta @ out.params["W"].T.astype(np.float64)  # I_out(t) − b
        expected = out.params["b"] + (net.decode_weights[:, None] * currents).sum(axis=0)
        np.testing.assert_allclose(rec.outputs[i, -1], expected, rtol=1e-5, atol=1e-5)


def pooled_cnn(seed: int = 0) -> Graph:
    """1×6×6 → conv 3×3 (4 maps, pad 1) → ReLU → max pool 2 → dense 6 → ReLU → dense 3."""
    b = NetBuilder(np.random.default_rng(seed), (1, 6, 6), normalise=True)
    b.pool(b.relu(b.conv("x", 4, 3, 1, 1, 1, 1)), "maxpool", (2, 2), (2, 2), (0, 0, 0, 0))
    b.dense(b.relu(b.dense(b.flatten(b.current), 6)), 3)
    return b.graph()


def test_average_pools_average_the_max_pools_windows():
    """The ANN of the rewritten graph pools each 2×2 window by its mean (a NumPy reshape-mean of the
    conv's ReLU output is the oracle); the graph given is not changed."""
    graph = pooled_cnn()
    averaged = eventsim.training.average_pools(graph)
    assert [n.op for n in graph.nodes].count("maxpool") == 1 and "maxpool" not in [n.op for n in averaged.nodes]
    x = np.random.default_rng(1).random((5, 1, 6, 6)).astype(np.float32)
    relu = next(n.name for n in graph.nodes if n.op == "relu")
    pool = next(n.name for n in averaged.nodes if n.op == "avgpool")
    _, values = run_ann(averaged, x, record=(relu, pool))
    expected = values[relu].reshape(5, 4, 3, 2, 3, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(values[pool], expected, rtol=1e-6, atol=1e-6)


def test_train_ttfs_is_the_recipe():
    """``eventsim.train_ttfs``: single-spike layers, average pools, learned temporal decoding, TTFS
    coding by default; the run learns (above chance on its training data) and says what it did."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    x = np.zeros((90, 1, 6, 6), np.float32)
    for i, label in enumerate(y):  # a bright bar in a row chosen by the label
        x[i, 0, 2 * label : 2 * label + 2] = rng.uniform(0.6, 1.0, (2, 6))
    result = eventsim.train_ttfs(pooled_cnn(), x, y, 8, epochs=6, batch_size=15, lr=0.01)
    net = result.net
    assert {layer.kind for layer in net.layers.values()} == {"single_spike"}
    assert "maxpool" not in [n.op for n in net.graph.nodes] and "avgpool" in [n.op for n in net.graph.nodes]
    assert net.decoding == "temporal" and net.decode_weights is not None
    assert net.meta["ttfs_training"]["pooling"] == "average" and net.meta["training"]["encoding"] == "ttfs"
    assert eventsim.simulate(net, x, 8).accuracy(y)[-1] > 0.6


def test_cli_train_ttfs_writes_a_network_that_simulates_with_its_own_coding(tmp_path):
    from click.testing import CliRunner
    from eventsim.cli.main import main

    from eventsim.examples import example_model_path, load_example_data

    data = load_example_data("digits")
    np.savez(tmp_path / "train.npz", x=data["x_calib"][:96], y=data["y_calib"][:96])
    np.savez(tmp_path / "test.npz", x=data["x_test"][:40], y=data["y_test"][:40])
    np.savez(tmp_path / "unlabelled.npz", x=data["x_calib"][:96])
    out = tmp_path / "ttfs.npz"
    args = [
        "train-ttfs", str(example_model_path("digits_mlp")), "--data", str(tmp_path / "train.npz"), "-T", "8",
        "--epochs", "2", "-o", str(out), "--json", str(tmp_path / "h.json"),
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    net = eventsim.SpikingNetwork.load(out)
    assert {layer.kind for layer in net.layers.values()} == {"single_spike"} and net.decode_weights is not None
    assert [r["epoch"] for r in json.loads((tmp_path / "h.json").read_text())] == [1, 2]
    shown = CliRunner().invoke(main, ["simulate", str(out), "--data", str(tmp_path / "test.npz"), "-T", "8"])
    assert shown.exit_code == 0 and "accuracy" in shown.output, shown.output
    out.unlink()
    bad = CliRunner().invoke(main, args[:3] + [str(tmp_path / "unlabelled.npz")] + args[4:])
    assert bad.exit_code == 2 and "labels" in bad.output and "Traceback" not in bad.output
    assert not out.exists()
