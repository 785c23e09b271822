"""The command line: every command on real files, and one clear message (exit 2, no traceback,
no partial output) for each kind of bad input."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from conftest import MODELS, manifest
from eventsim.cli.main import main
from onnx import TensorProto, helper

import eventsim
from eventsim.examples import example_info, example_model_path
from eventsim.measure.compare import steps_to_reach


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result, *fragments: str):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.count("error:") == 1
    for fragment in fragments:
        assert fragment in result.output, result.output


def small_model(tmp_path, op="Relu", attrs=None, dims=("N", 3, 4, 4), name="m.onnx"):
    node = helper.make_node(op, ["x"], ["y"], name="act1", **(attrs or {}))
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(dims))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / name
    onnx.save(model, path)
    return path


def test_version_and_help():
    assert eventsim.__version__ in run("--version").output
    out = run("--help").output
    for command in ("demo", "inspect", "verify"):
        assert command in out


def test_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output directory is relative
    result = run("demo")
    assert result.exit_code == 0, result.output
    accuracy = example_info()["ann_test_accuracy"]
    assert f"{accuracy:.2%}" in result.output
    assert "OK" in result.output
    report = json.loads((tmp_path / "eventsim-demo" / "verify.json").read_text())
    assert report["passed"] and report["ann_accuracy"] == pytest.approx(accuracy)
    assert json.loads((tmp_path / "eventsim-demo" / "graph.json").read_text())["output_shape"] == [10]
    for preset in ("opi", "ftbc"):  # detailed at the first T from which the comparison is within 1 % of the ANN
        report = json.loads((tmp_path / "eventsim-demo" / preset / "report.json").read_text())
        assert report["run"]["engine"] == "auto" and report["run"]["samples"] == 300
        assert report["run"]["T"] == steps_to_reach(report["compare"], preset) < 64
        assert report["accuracy"]["snn_per_step"][-1] >= accuracy - 0.01


def test_inspect_table_and_json():
    result = run("inspect", example_model_path())
    assert result.exit_code == 0 and "MACs" in result.output and "maxpool" in result.output
    doc = json.loads(run("inspect", example_model_path(), "--json").output)
    assert doc["input_shape"] == [1, 8, 8] and doc["total_macs"] == sum(n["macs"] for n in doc["nodes"])


@pytest.mark.parametrize("name", [entry["file"] for entry in manifest()])
def test_inspect_and_verify_exported_models(name):
    assert run("inspect", MODELS / name).exit_code == 0
    result = run("verify", MODELS / name, "--samples", "4")
    assert result.exit_code == 0 and "OK" in result.output, result.output


def test_verify_with_data_labels_and_json(tmp_path):
    data = eventsim.examples.load_example_data()
    np.savez(tmp_path / "d.npz", images=data["x_test"][:40], labels=data["y_test"][:40])
    result = run(
        "verify",
        example_model_path(),
        "--data",
        tmp_path / "d.npz",
        "--x-key",
        "images",
        "--y-key",
        "labels",
        "--samples",
        "40",
        "--json",
        tmp_path / "r.json",
    )
    assert result.exit_code == 0, result.output
    assert "ANN accuracy" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["samples"] == 40


def test_verify_reports_a_mismatch_with_exit_1():
    result = run("verify", MODELS / "resnet_tiny.onnx", "--rtol", "1e-15")
    assert result.exit_code == 1 and "MISMATCH" in result.output


def test_missing_file():
    assert_user_error(run("inspect", "no/such/model.onnx"), "does not exist")


def test_not_onnx_and_truncated(tmp_path):
    (tmp_path / "text.onnx").write_text("this is not a model")
    assert_user_error(run("inspect", tmp_path / "text.onnx"), "not a valid ONNX file")
    blob = (MODELS / "lenet_bn.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(blob[: len(blob) // 3])
    result = run("verify", tmp_path / "cut.onnx")
    assert result.exit_code == 2 and "Traceback" not in result.output and "error:" in result.output


def test_unsupported_op_names_node_and_op(tmp_path):
    assert_user_error(run("inspect", small_model(tmp_path, "Sigmoid")), "'act1'", "Sigmoid", "fix:")


def test_unsupported_attribute_is_named(tmp_path):
    assert_user_error(run("inspect", small_model(tmp_path, "Relu", {"foo": 1})), "act1", "foo")


def test_dynamic_dimensions_need_input_shape(tmp_path):
    path = small_model(tmp_path, dims=("N", 3, "H", "W"))
    assert_user_error(run("inspect", path), "--input-shape")
    result = run("inspect", path, "--input-shape", "3,5,7")
    assert result.exit_code == 0 and "3x5x7" in result.output
    assert run("inspect", path, "--input-shape", "3,x").exit_code == 2


def test_data_of_the_wrong_shape(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3, 9, 9), np.float32))
    assert_user_error(
        run("verify", example_model_path(), "--data", tmp_path / "d.npz", "--json", tmp_path / "r.json"),
        "shape (4, 3, 9, 9)",
        "(N, 1, 8, 8)",
    )
    assert not (tmp_path / "r.json").exists()


def test_data_with_nan(tmp_path):
    x = np.zeros((2, 1, 8, 8), np.float32)
    x[1, 0, 3, 3] = np.nan
    np.save(tmp_path / "d.npy", x)
    assert_user_error(run("verify", example_model_path(), "--data", tmp_path / "d.npy"), "NaN")


def test_corrupted_and_pickled_data_files(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    assert_user_error(run("verify", example_model_path(), "--data", tmp_path / "bad.npz"), "cannot read data file")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    assert_user_error(run("verify", example_model_path(), "--data", tmp_path / "obj.npz"), "object arrays")
    np.savez(tmp_path / "nokey.npz", images=np.zeros((2, 1, 8, 8)))
    assert_user_error(run("verify", example_model_path(), "--data", tmp_path / "nokey.npz"), "--x-key")


def test_debug_shows_the_traceback(tmp_path):
    missing = str(tmp_path / "none.onnx")
    plain = CliRunner().invoke(main, ["inspect", missing])
    debug = CliRunner().invoke(main, ["--debug", "inspect", missing])
    for result in (plain, debug):
        assert result.exit_code == 2 and "does not exist" in result.output
    assert "Traceback" not in plain.output
    assert "Traceback (most recent call last)" in debug.output and "ModelFileError" in debug.output


def test_convert_then_simulate(tmp_path):
    data = eventsim.examples.load_example_data()
    np.savez(tmp_path / "calib.npz", x=data["x_calib"])
    np.savez(tmp_path / "test.npz", x=data["x_test"][:50], y=data["y_test"][:50])
    result = run(
        "convert", example_model_path(), "--calib", tmp_path / "calib.npz", "-T", "16", "-o", tmp_path / "net.npz"
    )
    assert result.exit_code == 0, result.output
    assert "Relu" in result.output and (tmp_path / "net.npz").is_file()
    # auto is the default: the table of its candidates, the chosen one marked, and the choice in the file
    saved = eventsim.SpikingNetwork.load(tmp_path / "net.npz").meta
    assert saved["preset"] == "auto" and "auto at T=16" in result.output
    marked = [line for line in result.output.splitlines() if line.startswith("* ")]
    assert len(marked) == 1 and saved["auto"]["chosen_name"] in marked[0]
    assert len(saved["auto"]["candidates"]) >= 6 and f"chosen: {saved['auto']['chosen_name']}" in result.output
    result = run(
        "simulate",
        tmp_path / "net.npz",
        "--data",
        tmp_path / "test.npz",
        "-T",
        "16",
        "--steps",
        "1,4,16,99",
        "--json",
        tmp_path / "sim.json",
    )
    assert result.exit_code == 0, result.output
    assert "ANN accuracy" in result.output and "events/sample" in result.output
    report = json.loads((tmp_path / "sim.json").read_text())
    assert report["steps"] == [1, 4, 16] and len(report["accuracy"]) == 3 and report["samples"] == 50
    reference = run(
        "simulate",
        tmp_path / "net.npz",
        "--data",
        tmp_path / "test.npz",
        "-T",
        "16",
        "--engine",
        "reference",
        "--encoding",
        "rate",
        "--json",
        tmp_path / "ref.json",
    )
    assert reference.exit_code == 0, reference.output


def test_convert_with_model_thresholds_needs_bounds(tmp_path):
    clip = ("--preset", "opi", "--threshold", "clip")
    assert run("convert", MODELS / "mobilenet_relu6.onnx", *clip, "-o", tmp_path / "m.npz").exit_code == 0
    result = run("convert", example_model_path(), "--preset", "opi", "--threshold", "clip", "-o", tmp_path / "d.npz")
    assert_user_error(result, "no upper bound")
    assert not (tmp_path / "d.npz").exists()
    assert_user_error(
        run("convert", example_model_path(), "--preset", "opi", "-o", tmp_path / "e.npz"), "calibration data"
    )


def test_auto_convert_needs_T(tmp_path):
    np.savez(tmp_path / "calib.npz", x=eventsim.examples.load_example_data()["x_calib"])
    result = run("convert", example_model_path(), "--calib", tmp_path / "calib.npz", "-o", tmp_path / "n.npz")
    assert_user_error(result, "preset 'auto' calibrates for a number of time steps", "-T 16")
    assert not (tmp_path / "n.npz").exists()
    result = run("convert", example_model_path(), "-T", "4", "-o", tmp_path / "n.npz")
    assert_user_error(result, "calibration data")


def test_simulate_refuses_bad_files(tmp_path):
    (tmp_path / "net.npz").write_bytes(b"garbage")
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 8, 8), np.float32))
    assert_user_error(run("simulate", tmp_path / "net.npz", "--data", tmp_path / "d.npz"), "net.npz")
    run("convert", example_model_path(), "--preset", "opi", "--calib", tmp_path / "d.npz", "-o", tmp_path / "ok.npz")
    zero = run("simulate", tmp_path / "ok.npz", "--data", tmp_path / "d.npz", "-T", "0", "--json", tmp_path / "r.json")
    assert zero.exit_code == 2 and "Traceback" not in zero.output and "'-T': 0 is not in the range" in zero.output
    assert not (tmp_path / "r.json").exists()


def test_bsnn_and_ttfs_from_the_command_line(tmp_path):
    data = eventsim.examples.load_example_data()
    np.savez(tmp_path / "calib.npz", x=data["x_calib"])
    np.savez(tmp_path / "test.npz", x=data["x_test"][:40], y=data["y_test"][:40])
    for preset, extra in (("bsnn", ["--period", "4"]), ("ttfs", ["--window", "4"])):
        out = tmp_path / f"{preset}.npz"
        result = run(
            "convert", example_model_path(), "--calib", tmp_path / "calib.npz", "--preset", preset, *extra, "-o", out
        )
        assert result.exit_code == 0, result.output
        net = eventsim.SpikingNetwork.load(out)
        assert {layer.kind for layer in net.layers.values()} == {"bistable" if preset == "bsnn" else "ttfs"}
    result = run("simulate", tmp_path / "ttfs.npz", "--data", tmp_path / "test.npz", "-T", "16", "--encoding", "ttfs")
    assert result.exit_code == 0, result.output
    # without --encoding the network's own coding is used; another one is refused, naming the right one
    default = run("simulate", tmp_path / "ttfs.npz", "--data", tmp_path / "test.npz", "-T", "16")

    def without_timing(text: str) -> list[str]:
        return [line for line in text.splitlines() if "samples/s" not in line]

    assert default.exit_code == 0 and without_timing(default.output) == without_timing(result.output), default.output
    assert_user_error(
        run(
            "simulate",
            tmp_path / "ttfs.npz",
            "--data",
            tmp_path / "test.npz",
            "-T",
            "16",
            "--encoding",
            "direct",
            "--json",
            tmp_path / "r.json",
        ),
        "--encoding ttfs",
    )
    assert not (tmp_path / "r.json").exists()
    result = run(
        "compare", example_model_path(), "--calib", tmp_path / "calib.npz", "--data", tmp_path / "test.npz",
        "--presets", "opi,bsnn,ttfs", "-T", "8,16,32",
    )  # fmt: skip
    assert result.exit_code == 0 and "ttfs" in result.output and "bsnn" in result.output, result.output
    result = run(
        "convert",
        example_model_path(),
        "--calib",
        tmp_path / "calib.npz",
        "--preset",
        "ttfs",
        "--window",
        "0",
        "-o",
        tmp_path / "x.npz",
    )
    assert result.exit_code != 0 and not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(("flags", "kind", "burst"), [(["--signed"], "signed", 1), (["--burst", "3"], "burst", 3)])
def test_convert_with_signed_or_burst_neurons(tmp_path, flags, kind, burst):
    """--signed and --burst B give a rate-coded preset those neurons, as the library does with the
    same options; with a scheduled preset --burst is refused with one message and no file."""
    data = eventsim.examples.load_example_data()
    np.savez(tmp_path / "calib.npz", x=data["x_calib"][:64])
    out = tmp_path / "net.npz"
    result = run(
        "convert", example_model_path(), "--calib", tmp_path / "calib.npz", "--preset", "opi", *flags, "-o", out
    )
    assert result.exit_code == 0, result.output
    net = eventsim.SpikingNetwork.load(out)
    assert {(layer.kind, layer.burst) for layer in net.layers.values()} == {(kind, burst)}
    options = {"kind": "signed"} if kind == "signed" else {"burst": burst}
    graph = eventsim.load_onnx(example_model_path())
    assert net.fingerprint() == eventsim.convert(graph, data["x_calib"][:64], "opi", **options).fingerprint()
    refused = tmp_path / "bsnn.npz"
    result = run("convert", example_model_path(), "--calib", tmp_path / "calib.npz", "--preset", "bsnn",
                 "--burst", "2", "-o", refused)  # fmt: skip
    assert_user_error(result, "burst", "bistable")
    assert not refused.exists()
