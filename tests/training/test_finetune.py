"""``eventsim.finetune`` on a bundled converted network: it trains without changing the network's
structure, the tuned network runs in the engines exactly as it trained, and it gains accuracy at a
small T where the conversion alone falls short; keep-best returns the network of the best held-out
epoch; the held-out split and the image shifts are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from checks import simulate_with
from hypothesis import given
from hypothesis import strategies as st

import eventsim
from eventsim.errors import DataError
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
        # a sample whose output nothing has reached yet (only its bias) is undecided (-1), not the bias's class
        expected = np.where(rec.output_reached() <= 1, outputs[:, -1].argmax(axis=1), -1)
        np.testing.assert_array_equal(rec.predictions()[:, -1], expected)
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


def test_keep_best_returns_exactly_the_network_of_the_best_held_out_epoch(converted):
    """The oracle: runs of 1..E epochs with a constant learning rate are prefixes of one another, so
    the network after each epoch is known; its held-out accuracy is recomputed with simulate."""
    net, data = converted
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    x, y = data["x_calib"], data["y_calib"]
    held = (data["x_test"][:40], data["y_test"][:40])
    common = {"teacher": graph, "thresholds": True, "v0": True, "schedule": "constant", "lr": 0.03, "seed": 1}
    common["select"] = "accuracy"
    epochs = 4
    kept = eventsim.finetune(net, x, y, 1, val=held, epochs=epochs, **common).net
    nets = [net] + [eventsim.finetune(net, x, y, 1, holdout=0, epochs=e, **common).net for e in range(1, epochs + 1)]
    scores = [float(eventsim.simulate(n, held[0], 1).accuracy(held[1])[-1]) for n in nets]
    best = scores.index(max(scores))  # the first of the best
    record = kept.meta["finetune"]
    assert record["held_out_accuracy"] == pytest.approx(scores, abs=1e-12)
    assert record["best_epoch"] == best and record["selected_on"] == "val"
    for a, b in zip(kept.graph.nodes, nets[best].graph.nodes, strict=True):
        assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    for name, layer in kept.layers.items():
        assert np.array_equal(layer.threshold, nets[best].layers[name].threshold)
        assert np.array_equal(layer.v0, nets[best].layers[name].v0)


@pytest.mark.parametrize("lr", [0.05, 1e-4])  # large steps; steps that change a held-out decision or two
def test_agreement_keeps_the_epoch_matching_significantly_more_of_the_teachers_decisions(converted, lr):
    """The oracle: each epoch's network (runs of 1..E epochs with a constant rate are prefixes of one
    another, mixes included) simulated on the held-out data, its decisions compared with the ANN's
    and its soft-target loss written out from the softmax; the rule applied to those numbers."""
    net, data = converted
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    x, y = data["x_calib"], data["y_calib"]
    held = (data["x_test"][:60], data["y_test"][:60])
    common = {"teacher": graph, "thresholds": True, "schedule": "constant", "lr": lr, "seed": 2, "mixup": 0.5}
    common["select"] = "agreement"
    epochs, tau = 4, 4.0
    kept = eventsim.finetune(net, x, y, 1, val=held, epochs=epochs, **common).net
    nets = [net] + [eventsim.finetune(net, x, y, 1, holdout=0, epochs=e, **common).net for e in range(1, epochs + 1)]
    teacher = eventsim.run_ann(graph, held[0])
    q = np.exp(teacher / tau) / np.exp(teacher / tau).sum(axis=1, keepdims=True)
    matches, losses = [], []
    for n in nets:
        rec = eventsim.simulate(n, held[0], 1)
        z = rec.outputs[:, -1].astype(np.float64) / tau  # T = 1: o(1)/1
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        losses.append(tau**2 * np.mean(np.sum(q * np.log(q / p), axis=1)))
        # a decision needs something from the input at the output: its bias alone is no match
        matches.append((z.argmax(axis=1) == teacher.argmax(axis=1)) & (rec.output_reached() <= 1))
    gained = [int(np.sum(m & ~matches[0])) for m in matches]
    lost = [int(np.sum(~m & matches[0])) for m in matches]
    eligible = [0] + [e for e in range(1, epochs + 1) if gained[e] - lost[e] > np.sqrt(gained[e] + lost[e])]
    best = min(eligible, key=lambda e: (-np.mean(matches[e]), losses[e], e))
    record = kept.meta["finetune"]
    assert record["select"] == "agreement" and record["mixup"] == 0.5
    assert record["held_out_agreement"] == pytest.approx([np.mean(m) for m in matches], abs=1e-12)
    assert record["held_out_loss"] == pytest.approx(losses, rel=1e-5)
    assert record["best_epoch"] == best
    for a, b in zip(kept.graph.nodes, nets[best].graph.nodes, strict=True):
        assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    for name, layer in kept.layers.items():
        assert np.array_equal(layer.threshold, nets[best].layers[name].threshold)


@given(st.integers(0, 2**32 - 1), st.floats(0, 1), st.integers(1, 8))
def test_mixed_inputs_are_convex_combinations_of_two_training_inputs(seed, share, n):
    """The oracle: for each output row, the least-squares λ against every partner x_j; some partner
    must fit exactly with λ in [0, 1]; unmixed rows are their input."""
    from eventsim.training.augment import mix_inputs

    x = np.random.default_rng(seed).random((n, 3, 4)).astype(np.float32)
    out, mixed = mix_inputs(x, share, seed)
    again = mix_inputs(x, share, seed)
    assert np.array_equal(out, again[0]) and np.array_equal(mixed, again[1])
    assert out.shape == x.shape and out.dtype == x.dtype and mixed.shape == (n,)
    if share == 0:
        assert not mixed.any()
    for i in range(n):
        if not mixed[i]:
            assert np.array_equal(out[i], x[i])
            continue
        fits = []
        for j in range(n):
            d = (x[i] - x[j]).ravel().astype(np.float64)
            r = (out[i] - x[j]).ravel().astype(np.float64)
            lam = 1.0 if not d.any() else float(d @ r / (d @ d))
            fits.append(-1e-6 <= lam <= 1 + 1e-6 and np.allclose(r, lam * d, atol=1e-6))
        assert any(fits)


def test_mixup_and_selection_need_a_teacher_and_valid_values(converted):
    net, data = converted
    x, y = data["x_calib"][:64], data["y_calib"][:64]
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    with pytest.raises(ValueError, match="mixup"):
        eventsim.finetune(net, x, y, 1, mixup=0.5, epochs=1)
    with pytest.raises(ValueError, match="select"):
        eventsim.finetune(net, x, y, 1, select="agreement", epochs=1)
    with pytest.raises(ValueError, match="select"):
        eventsim.finetune(net, x, y, 1, teacher=graph, select="best", epochs=1)
    with pytest.raises(ValueError, match="mixup"):
        eventsim.finetune(net, x, y, 1, teacher=graph, mixup=1.5, epochs=1)
    plain = eventsim.finetune(net, x, y, 1, epochs=1).net.meta["finetune"]
    assert plain["select"] == "accuracy" and plain["mixup"] == 0.0


def test_the_held_out_split_is_stratified_deterministic_and_left_out_of_training():
    from eventsim.training.augment import holdout_split

    y = np.random.default_rng(3).integers(0, 5, 123)
    fit, held = holdout_split(y, 0.2, seed=7)
    again = holdout_split(y, 0.2, seed=7)
    assert np.array_equal(fit, again[0]) and np.array_equal(held, again[1])
    assert not set(fit) & set(held) and sorted([*fit, *held]) == list(range(len(y)))
    for label in range(5):
        count = int(np.sum(y == label))
        assert np.sum(y[held] == label) == min(count - 1, round(0.2 * count))
    assert not np.array_equal(held, holdout_split(y, 0.2, seed=8)[1])


@given(st.integers(0, 2**32 - 1), st.integers(0, 2), st.integers(1, 6), st.integers(3, 7))
def test_shifts_are_deterministic_per_seed_and_move_each_image_by_whole_pixels(seed, shift, n, size):
    from eventsim.training.augment import shift_images

    rng = np.random.default_rng(seed)
    x = rng.random((n, 2, size, size + 1)).astype(np.float32)
    out = shift_images(x, shift, seed)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert np.array_equal(out, shift_images(x, shift, seed))
    for image, moved in zip(x, out, strict=True):  # each image stays at its index, so keeps its label
        assert any(np.array_equal(moved, moved_by(image, dy, dx)) for dy, dx in offsets(shift))


def offsets(shift: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]


def moved_by(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Pixel (i, j) of the result is pixel (i − dy, j − dx) of ``image``, zero outside it."""
    h, w = image.shape[-2:]
    out = np.zeros_like(image)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = image[..., i - dy, j - dx]
    return out


def test_a_teacher_alone_needs_no_labels_and_bad_teachers_are_refused(converted):
    net, data = converted
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    x = data["x_calib"][:64]
    result = eventsim.finetune(net, x, None, 1, teacher=graph, epochs=1, holdout=0)
    assert result.net.meta["finetune"]["distill"] == 1.0 and result.net.meta["finetune"]["teacher"]
    with pytest.raises(ValueError, match="teacher"):
        eventsim.finetune(net, x, None, 1, epochs=1)
    other = eventsim.load_onnx(example_model_path("mnist_lenet"))
    with pytest.raises(DataError, match="teacher"):
        eventsim.finetune(net, x, data["y_calib"][:64], 1, teacher=other, epochs=1)


def test_each_parameter_steps_in_its_own_unit_and_the_cosine_schedule_warms_up(converted):
    """Adam's first step moves every entry with a gradient by lr · sign(g): in units of its scale,
    by lr · scale."""
    from eventsim.training.estimators import parse_estimator
    from eventsim.training.optimizers import Optimizer
    from eventsim.training.prepare import training_network
    from eventsim.training.trainer import TrainSettings, TrainState, lr_factor, train_step

    net, data = converted
    dense = [n.name for n in net.graph.nodes if n.spec.trainable_params]
    layer = net.layer_names[0]
    scales = {f"{dense[0]}/W": 10.0, f"layer/{layer}/threshold": 3.0}
    settings = TrainSettings(1, neuron_params=("threshold",), scales=scales)
    state = TrainState(training_network(net), Optimizer(lr=1e-3), settings, parse_estimator("localzo:delta=1,m=5"))
    before = {name: state.net.graph.node(name).params["W"].copy() for name in dense}
    theta = state.net.layers[layer].threshold.copy()
    train_step(state, data["x_calib"][:32], data["y_calib"][:32], 0, 0)
    for name, unit in zip(dense, [10.0] + [1.0] * (len(dense) - 1), strict=True):
        moved = np.abs(state.net.graph.node(name).params["W"] - before[name])
        assert moved.max() == pytest.approx(1e-3 * unit, rel=1e-3) and moved.max() <= 1e-3 * unit * (1 + 1e-4)
    assert np.abs(state.net.layers[layer].threshold - theta).max() == pytest.approx(3e-3, rel=1e-3)
    factors = [lr_factor("cosine", step, 100) for step in range(100)]
    assert factors[:10] == pytest.approx([(k + 1) / 10 for k in range(10)])
    assert factors[10] == 1.0 and all(a >= b for a, b in zip(factors[10:], factors[11:])) and factors[-1] < 1e-3
    assert {lr_factor("constant", step, 100) for step in range(100)} == {1.0}
