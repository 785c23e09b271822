"""``eventsim.train`` through the public API: trained networks run in the engines exactly as they
trained, a run is reproducible and resumable, bad input is refused clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from checks import simulate_with

import eventsim
from eventsim import Graph, Node
from eventsim.errors import ModelFileError
from eventsim.training.forward import forward
from eventsim.training.losses import predictions


def mlp(n_in=12, hidden=10, classes=3, seed=0) -> Graph:
    rng = np.random.default_rng(seed)
    nodes = [
        Node("x", "input", (), {"source_shape": (n_in,), "perm": (0,)}, {"scale": np.ones(()), "shift": np.zeros(())})
    ]
    nodes.append(Node("fc1", "dense", ("x",), {}, {"W": rng.normal(0, 0.5, (hidden, n_in)), "b": np.zeros(hidden)}))
    nodes.append(Node("a1", "relu", ("fc1",)))
    nodes.append(
        Node("fc2", "dense", ("a1",), {}, {"W": rng.normal(0, 0.5, (classes, hidden)), "b": np.zeros(classes)})
    )
    return Graph(nodes, "fc2")


def blobs(n=96, n_in=12, classes=3, seed=0):
    """Three separable clusters in [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = rng.random((classes, n_in))
    y = rng.integers(0, classes, n)
    x = np.clip(centres[y] + rng.normal(0, 0.1, (n, n_in)), 0, 1).astype(np.float32)
    return x, y


@pytest.mark.parametrize("encoding", ["direct", "rate"])
@pytest.mark.parametrize("kind, reset", [("lif", "subtract"), ("lif", "zero"), ("if", "subtract")])
def test_training_learns_and_the_trained_network_runs_exactly_in_the_engines(encoding, kind, reset):
    x, y = blobs()
    result = eventsim.train(
        mlp(), x, y, T=8, encoding=encoding, epochs=4, batch_size=16, lr=0.02, kind=kind, reset=reset,
        estimator="fast_sigmoid:width=0.5", seed=1,
    )  # fmt: skip
    history = result.history
    assert history[-1].loss < history[0].loss
    net = result.net
    assert net.meta["training"]["epochs"] == 4
    tape = forward(net, x, 8, eventsim.training.parse_estimator("localzo"), encoding=encoding, sparse=True)
    for variant in ("reference", "event", "layer"):
        rec = simulate_with(variant, net, x, 8, encoding=encoding)
        np.testing.assert_array_equal(rec.outputs, np.swapaxes(tape.output, 0, 1).reshape(rec.outputs.shape))
    assert np.mean(predictions(tape.output) == y) > 0.6


def run(tmp_path=None, **kwargs):
    x, y = blobs(seed=3)
    options = dict(T=6, epochs=3, batch_size=32, lr=0.01, seed=4, estimator="localzo:delta=0.3,seed=2")
    options.update(kwargs)
    return eventsim.train(mlp(seed=2), x, y, **options)


def weights(net):
    return {f"{n.name}/{k}": v for n in net.graph.nodes for k, v in n.params.items()}


def test_same_seed_gives_a_bit_identical_run_and_resuming_changes_nothing(tmp_path):
    first, second = run(), run()
    for key, value in weights(first.net).items():
        np.testing.assert_array_equal(value, weights(second.net)[key])
    assert [r.loss for r in first.history] == [r.loss for r in second.history]
    ckpt = tmp_path / "run.ckpt.npz"
    run(epochs=2, checkpoint=ckpt)
    resumed = run(epochs=3, resume=ckpt)
    for key, value in weights(first.net).items():
        np.testing.assert_array_equal(value, weights(resumed.net)[key])
    assert [r.loss for r in resumed.history] == [r.loss for r in first.history]


def test_sparse_and_dense_training_take_the_same_steps():
    sparse, dense = run(backward="sparse", epochs=1), run(backward="dense", epochs=1)
    for key, value in weights(sparse.net).items():
        np.testing.assert_allclose(value, weights(dense.net)[key], rtol=1e-4, atol=1e-5)
    assert sparse.history[0].active_fraction == dense.history[0].active_fraction


def test_a_damaged_checkpoint_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelFileError, match="damaged or not an eventsim checkpoint"):
        run(resume=bad)
    net_file = tmp_path / "net.npz"
    run(epochs=1).net.save(net_file)
    with pytest.raises(ModelFileError, match="not an eventsim checkpoint"):
        run(resume=net_file)


def test_bad_labels_and_settings_are_refused():
    x, y = blobs()
    with pytest.raises(eventsim.DataError, match="range over"):
        eventsim.train(mlp(), x, y + 5, T=4)
    with pytest.raises(ValueError, match="T must be"):
        eventsim.train(mlp(), x, y, T=0)
    with pytest.raises(eventsim.DataError, match="memory"):
        eventsim.train(mlp(), x, y, T=10**9)
    with pytest.raises(ValueError, match="unknown gradient estimator"):
        eventsim.train(mlp(), x, y, T=4, estimator="nope")


def test_cli_trains_writes_the_network_history_and_plot(tmp_path):
    from click.testing import CliRunner
    from eventsim.cli.main import main

    x, y = blobs()
    model = tmp_path / "model.npz"
    eventsim.SpikingNetwork(
        mlp(), {"a1": eventsim.NeuronLayer(np.float32(1.0), np.float32(0.0), "lif", leak=0.875)}
    ).save(model)
    np.savez(tmp_path / "train.npz", x=x[:64], y=y[:64])
    np.savez(tmp_path / "val.npz", x=x[64:], y=y[64:])
    out = tmp_path / "trained.npz"
    args = [
        "train", str(model), "--data", str(tmp_path / "train.npz"), "--val", str(tmp_path / "val.npz"), "-T", "6",
        "--epochs", "2", "--lr", "0.01", "-o", str(out), "--json", str(tmp_path / "h.json"),
        "--plot", str(tmp_path / "h.png"), "--checkpoint", str(tmp_path / "c.npz"),
    ]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "h.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["val_accuracy"] is not None
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    assert eventsim.SpikingNetwork.load(out).layers["a1"].kind == "lif"
    bad = CliRunner().invoke(main, args[:-2] + ["--resume", str(tmp_path / "h.png")])
    assert bad.exit_code == 2 and "checkpoint" in bad.output and "Traceback" not in bad.output
    bad = CliRunner().invoke(main, args + ["--estimator", "localzo:delta=-1"])
    assert bad.exit_code == 2 and "delta" in bad.output
