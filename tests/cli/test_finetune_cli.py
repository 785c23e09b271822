"""``eventsim finetune`` on the command line: with the ANN as teacher the labels are optional, the
options not given are the library's defaults (the file equals ``eventsim.finetune``'s network), and
contradictory or mismatched inputs exit 2 with one message and no output file."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
from eventsim.examples import example_model_path, load_example_data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finetune_cli")
    data = load_example_data("digits")
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    x = data["x_calib"][:120]
    net = eventsim.convert(graph, x, "ftbc", T=2)
    net.save(tmp / "net.npz")
    np.savez(tmp / "unlabelled.npz", x=x)
    np.savez(tmp / "labelled.npz", x=x, y=data["y_calib"][:120])
    return tmp, graph, net, x


def run(*args):
    return CliRunner().invoke(main, ["finetune", *map(str, args)])


def test_a_teacher_makes_labels_optional_and_defaults_are_the_librarys(files):
    tmp, graph, net, x = files
    out = tmp / "tuned.npz"
    result = run(tmp / "net.npz", "--data", tmp / "unlabelled.npz", "-T", 2, "--teacher",
                 example_model_path("digits_mlp"), "--epochs", 2, "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "kept epoch" in result.output
    tuned = eventsim.SpikingNetwork.load(out)
    record = tuned.meta["finetune"]
    assert record["teacher"] and record["distill"] == 1.0
    # the oracle: the library called directly with the same inputs and only the options given
    expected = eventsim.finetune(net, x, None, 2, teacher=graph, epochs=2).net
    for node, mine in zip(expected.graph.nodes, tuned.graph.nodes, strict=True):
        for key, value in node.params.items():
            np.testing.assert_array_equal(mine.params[key], value, err_msg=f"{node.name}.{key}")
    for name, layer in expected.layers.items():
        np.testing.assert_array_equal(tuned.layers[name].threshold, layer.threshold)


def test_labels_are_required_without_a_teacher(files):
    tmp, *_ = files
    result = run(tmp / "net.npz", "--data", tmp / "unlabelled.npz", "-T", 2, "-o", tmp / "x.npz")
    assert result.exit_code == 2 and "holds no labels" in result.output
    assert not (tmp / "x.npz").exists()


@pytest.mark.parametrize("option", [["--distill", "0.5"], ["--mixup", "0.5"], ["--select", "agreement"]])
def test_what_needs_the_ann_is_refused_without_a_teacher(files, option):
    tmp, *_ = files
    result = run(tmp / "net.npz", "--data", tmp / "labelled.npz", "-T", 2, *option, "-o", tmp / "x.npz")
    assert result.exit_code == 2 and "--teacher" in result.output and "Traceback" not in result.output
    assert not (tmp / "x.npz").exists()


def test_a_teacher_of_another_input_shape_is_refused_by_name(files):
    tmp, *_ = files
    result = run(tmp / "net.npz", "--data", tmp / "labelled.npz", "-T", 2, "--teacher",
                 example_model_path("mnist_lenet"), "-o", tmp / "x.npz")  # fmt: skip
    assert result.exit_code == 2 and "teacher" in result.output and "Traceback" not in result.output
    assert not (tmp / "x.npz").exists()
