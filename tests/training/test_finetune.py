"""``eventsim.finetune`` on a bundled converted network: it trains without changing the network's
structure, the tuned network runs in the engines exactly as it trained, and it gains accuracy at a
small T where the conversion alone falls short."""

from __future__ import annotations

import numpy as np
import pytest
from checks import simulate_with

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.training import parse_estimator
from eventsim.training.forward import forward


@pytest.fixture(scope="module")
def converted():
    data = load_example_data("digits")
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    net = eventsim.convert(graph, data["x_calib"], "ftbc", T=1)
    return net, data


def structure(net):
    nodes = [(n.name, n.op, n.inputs, n.shape) for n in net.graph.nodes]
    layers = {k: (v.kind, v.threshold.shape, v.v0.shape, None if v.temporal_bias is None else v.temporal_bias.shape)
              for k, v in net.layers.items()}  # fmt: skip
    return nodes, layers, net.decoding


def test_finetuning_keeps_the_structure_runs_exactly_and_gains_accuracy(converted):
    net, data = converted
    x, y, xt, yt = data["x_calib"], data["y_calib"], data["x_test"], data["y_test"]
    before = eventsim.simulate(net, xt, 1).accuracy(yt)[-1]  # conversion alone: about 42 % at T = 1
    result = eventsim.finetune(net, x, y, 1, thresholds=True, v0=True, temporal_bias=True, epochs=10, seed=0)
    tuned = result.net
    assert structure(tuned) == structure(net)
    assert tuned.meta["finetune"]["trained"] == ["weights", "biases", "threshold", "v0", "temporal_bias"]
    assert any(not np.array_equal(tuned.layers[k].v0, net.layers[k].v0) for k in net.layers)
    tape = forward(tuned, xt, 1, parse_estimator("localzo"))
    for variant in ("event", "layer", "reference"):
        # to float rounding: a dense product and an event scatter add the same terms in other orders
        rec = simulate_with(variant, tuned, xt, 1)
        outputs = np.swapaxes(tape.output, 0, 1).reshape(rec.outputs.shape)
        np.testing.assert_allclose(rec.outputs, outputs, rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(rec.predictions()[:, -1], outputs[:, -1].argmax(axis=1))
    after = rec.accuracy(yt)[-1]
    assert after > before + 0.2, (before, after)  # measured: 0.42 → 0.88 on the test split


def test_cli_finetunes_a_network_file(tmp_path, converted):
    from click.testing import CliRunner
    from eventsim.cli.main import main

    net, data = converted
    net.save(tmp_path / "net.npz")
    np.savez(tmp_path / "train.npz", x=data["x_calib"], y=data["y_calib"])
    out = tmp_path / "tuned.npz"
    args = ["finetune", str(tmp_path / "net.npz"), "--data", str(tmp_path / "train.npz"), "-T", "1", "--v0"]
    result = CliRunner().invoke(main, args + ["--epochs", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert eventsim.SpikingNetwork.load(out).meta["finetune"]["trained"] == ["weights", "biases", "v0"]
    bad = CliRunner().invoke(main, args + ["-o", str(out), "--estimator", "nope"])
    assert bad.exit_code == 2 and "estimator" in bad.output
