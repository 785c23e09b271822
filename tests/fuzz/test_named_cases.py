"""The cases issue 17 names, one test each: every one ends in exit 0 with a correct result or in exit 2
with one message naming the problem and the fix (no traceback, no partial file, no pickle load)."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import fuzzlib
import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main
from onnx_builders import Builder

import eventsim
from eventsim.examples import example_model_path, load_example_data


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def clean_error(result, *words: str, absent: tuple[str, ...] = ()) -> str:
    """Assert exit 2 with exactly one error line (and a fix) holding ``words``; the message."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in result.output, f"{word!r} not in {result.output!r}"
    for word in absent:
        assert word not in result.output, f"{word!r} in {result.output!r}"
    return result.output


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    d = load_example_data()
    np.savez(root / "test.npz", x=d["x_test"][:20], y=d["y_test"][:20])
    np.savez(root / "calib.npz", x=d["x_calib"][:40])
    net = eventsim.convert(eventsim.load_onnx(example_model_path()), d["x_calib"][:40], "opi")
    net.save(root / "net.npz")
    return root


def test_onnx_model_where_a_network_is_expected(digits):
    """simulate model.onnx says it is an ONNX model and how to convert it, nothing about pickles."""
    out = clean_error(
        run("simulate", example_model_path(), "--data", digits / "test.npz"),
        "ONNX model",
        "eventsim convert",
        absent=("pickle", "allow_pickle"),
    )
    assert "not an eventsim network" in out


def test_gemm_that_lost_trans_b_is_a_shape_refusal(tmp_path):
    b = Builder((12,), opset=13)
    w = b.const(b.randn(5, 12), "W")
    out = b.op("Gemm", [b.input, w, b.const(b.randn(5), "b")], transB=1)
    model = b.model(out)
    assert eventsim.load_onnx(model).output_shape == (5,)  # as exported: fine
    for attr in list(model.graph.node[0].attribute):
        if attr.name == "transB":
            model.graph.node[0].attribute.remove(attr)
    # ONNX's shape inference or eventsim's own check: a shape refusal naming the node, not NumPy's
    with pytest.raises(eventsim.ShapeError) as info:
        eventsim.load_onnx(model)
    assert "gemm" in str(info.value).lower() and "broadcast" not in str(info.value)


def test_gemm_weight_that_does_not_fit_names_trans_b():
    """A Gemm whose B fits only the other way round: eventsim's own check says transB."""
    b = Builder((12,), opset=13)
    out = b.op("Gemm", [b.input, b.const(b.randn(12, 5), "W")], transB=1)
    model = b.model(out)
    # a symbolic feature axis: ONNX's inference cannot see the mismatch, eventsim's handler must
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "F"
    model.graph.output[0].CopyFrom(onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, ["N", "M"]))
    with pytest.raises(eventsim.ShapeError, match="did the model lose transB"):
        eventsim.load_onnx(model, input_shape=(12,))


def test_onnxruntime_refusing_a_model_eventsim_accepts_is_one_message(tmp_path):
    """Opset 6 models import (ONNX's own cases pass), but onnxruntime has no kernels for them."""
    b = Builder((2, 6, 6), opset=6)
    out = b.op("AveragePool", [b.input], kernel_shape=[2, 2], strides=[2, 2])
    path = tmp_path / "old.onnx"
    onnx.save(b.model(out), str(path))
    assert run("inspect", path).exit_code == 0
    clean_error(run("verify", path, "--samples", "2", "--json", tmp_path / "v.json"), "onnxruntime cannot run")
    assert not (tmp_path / "v.json").exists()


@pytest.mark.parametrize("opset", [1, 999])
def test_opsets_eventsim_cannot_read_are_refused(tmp_path, opset):
    model = onnx.load(str(example_model_path("digits_mlp")))
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    onnx.save(model, str(tmp_path / "m.onnx"))
    for command in ("inspect", "verify"):
        clean_error(run(command, tmp_path / "m.onnx"), f"opset {opset}")


def test_bool_weights_and_bfloat16_inputs_are_refused(tmp_path):
    model = onnx.load(str(example_model_path("digits_mlp")))
    init = model.graph.initializer[-1]
    init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) > 0, init.name))
    onnx.save(model, str(tmp_path / "bool.onnx"))
    clean_error(run("inspect", tmp_path / "bool.onnx"), "malformed", "bool")
    model = onnx.load(str(example_model_path("digits_mlp")))
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.BFLOAT16
    onnx.save(model, str(tmp_path / "bf16.onnx"))
    clean_error(run("convert", tmp_path / "bf16.onnx", "--preset", "opi", "-o", tmp_path / "n.npz"), "BFLOAT16")
    assert not (tmp_path / "n.npz").exists()


def test_value_info_contradicting_the_graph_is_refused(tmp_path):
    model = onnx.load(str(example_model_path()))
    name = model.graph.node[2].output[0]
    model.graph.value_info.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", 999, 3]))
    onnx.save(model, str(tmp_path / "m.onnx"))
    clean_error(run("inspect", tmp_path / "m.onnx"), "malformed")


def test_nan_weights_and_a_zero_batch_axis_are_refused(tmp_path):
    model = onnx.load(str(example_model_path("digits_mlp")))
    init = next(t for t in model.graph.initializer if len(t.dims) == 2)
    w = onnx.numpy_helper.to_array(init).copy()
    w[0, 0] = np.nan
    init.CopyFrom(onnx.numpy_helper.from_array(w, init.name))
    onnx.save(model, str(tmp_path / "nan.onnx"))
    clean_error(run("verify", tmp_path / "nan.onnx", "--json", tmp_path / "v.json"), "NaN")
    assert not (tmp_path / "v.json").exists()
    model = onnx.load(str(example_model_path("digits_mlp")))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 0
    onnx.save(model, str(tmp_path / "zero.onnx"))
    clean_error(run("verify", tmp_path / "zero.onnx"), "size 0")


def test_labels_shorter_than_the_data_are_not_called_one_hot(digits, tmp_path):
    d = load_example_data()
    np.savez(tmp_path / "short.npz", x=d["x_test"][:20], y=d["y_test"][:7])
    clean_error(
        run("simulate", digits / "net.npz", "--data", tmp_path / "short.npz", "-T", "2", "--engine", "reference"),
        "7 labels for 20 samples",
        absent=("one-hot",),
    )
    np.savez(tmp_path / "onehot.npz", x=d["x_test"][:20], y=np.eye(10, dtype=np.int64)[d["y_test"][:20]])
    clean_error(run("verify", example_model_path(), "--data", tmp_path / "onehot.npz"), "one-hot", "argmax")


def test_labels_out_of_range_are_refused(digits, tmp_path):
    d = load_example_data()
    np.savez(tmp_path / "d.npz", x=d["x_test"][:20], y=d["y_test"][:20] + 10)
    args = ("--data", tmp_path / "d.npz")
    clean_error(run("simulate", digits / "net.npz", *args, "-T", "2", "--engine", "reference"), "10 outputs")
    clean_error(run("verify", example_model_path(), *args), "10 outputs")


def test_nchw_data_for_an_nhwc_model_suggests_a_transpose(models_dir, tmp_path):
    graph = eventsim.load_onnx(models_dir / "nhwc_input.onnx")
    h, w, c = graph.input_shape
    x = np.random.default_rng(0).random((3, c, h, w), dtype=np.float32)
    np.savez(tmp_path / "nchw.npz", x=x)
    out = clean_error(run("verify", models_dir / "nhwc_input.onnx", "--data", tmp_path / "nchw.npz"), "transpose")
    assert "x.transpose(0, 2, 3, 1)" in out and "reshape it" not in out


def test_verify_reports_the_shape_of_the_whole_file(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((300, 3, 9, 9), np.float32))
    clean_error(run("verify", example_model_path(), "--data", tmp_path / "d.npz", "--samples", "4"), "(300, 3, 9, 9)")


@pytest.mark.parametrize("command", [("verify", str(example_model_path())), ("demo",)])
def test_zero_samples_are_refused(command, tmp_path):
    result = run(*command, "--samples", "0", *(("--out", tmp_path / "demo") if command[0] == "demo" else ()))
    clean_error(result, "--samples")
    assert not (tmp_path / "demo").exists()


def test_data_files_are_read_by_content_not_suffix(tmp_path):
    x = load_example_data()["x_test"][:5]
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "x.dat").write_bytes((tmp_path / "x.npy").read_bytes())
    (tmp_path / "x.npz").write_bytes((tmp_path / "x.npy").read_bytes())
    for name in ("x.dat", "x.npz"):
        loaded, labels = eventsim.load_data_file(tmp_path / name)
        assert np.array_equal(loaded, x) and labels is None
    result = run("verify", example_model_path(), "--data", tmp_path / "x.dat")
    assert result.exit_code == 0, result.output


def test_a_header_claiming_petabytes_is_refused_before_allocating(tmp_path):
    (tmp_path / "huge.npy").write_bytes(fuzzlib.huge_npy_header())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.npy", fuzzlib.huge_npy_header((784_000_000, 1, 8, 8)))
    (tmp_path / "huge.npz").write_bytes(buf.getvalue())
    for name in ("huge.npy", "huge.npz"):
        tracemalloc.start()
        with pytest.raises(eventsim.DataError, match="truncated or damaged"):
            eventsim.load_data_file(tmp_path / name)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 50e6, peak


def test_pickles_are_never_loaded(tmp_path, monkeypatch):
    import pickle

    loads = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: loads.append(a))
    (tmp_path / "p.npz").write_bytes(pickle.dumps({"x": np.zeros((2, 1, 8, 8))}))
    obj = np.empty(2, dtype=object)
    np.savez(tmp_path / "o.npz", x=obj)
    for name in ("p.npz", "o.npz"):
        clean_error(run("verify", example_model_path(), "--data", tmp_path / name), "never load")
        clean_error(run("simulate", tmp_path / name, "--data", tmp_path / name))
    assert not loads


def test_outputs_where_nothing_can_be_written(digits, tmp_path):
    (tmp_path / "file").write_text("x")
    base = ("convert", example_model_path(), "--preset", "opi", "--calib", digits / "calib.npz", "-o")
    clean_error(run(*base, "/proc/net.npz"), "cannot write", "/proc")
    clean_error(run(*base, tmp_path / "file" / "net.npz"), "is a file, not a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    json_out = ("simulate", digits / "net.npz", "--data", digits / "test.npz", "-T", "2", "--json", "/proc/s.json")
    clean_error(run(*json_out, "--engine", "reference"), "cannot write")


def test_damaged_network_files(digits, tmp_path):
    with np.load(digits / "net.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays["__meta__"].tobytes())
    name = next(iter(meta["layers"]))
    cases = {
        "nan": dict(arrays, **{f"layer/{name}/v0": np.full_like(arrays[f"layer/{name}/v0"], np.nan)}),
        "ints": dict(arrays, **{"graph/1/W": arrays["graph/1/W"].astype(np.int64)}),
        "json": dict(arrays, __meta__=np.frombuffer(b"[1, 2]", np.uint8)),
        "stage": dict(arrays, __meta__=_meta(meta, lambda m: m["layers"][name].update(stage=-5))),
        "stride": dict(arrays, __meta__=_meta(meta, lambda m: m["graph"]["nodes"][1]["attrs"].update(stride=[0, 1]))),
    }
    for case, content in cases.items():
        np.savez(tmp_path / f"{case}.npz", **content)
        clean_error(run("simulate", tmp_path / f"{case}.npz", "--data", digits / "test.npz"), "network")
    (tmp_path / "cut.npz").write_bytes((digits / "net.npz").read_bytes()[:2000])
    clean_error(run("energy", tmp_path / "cut.npz", "--data", digits / "test.npz"), "damaged")


def _meta(meta: dict, edit) -> np.ndarray:
    meta = json.loads(json.dumps(meta))
    edit(meta)
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


def test_damaged_checkpoints(tmp_path):
    from eventsim.training.checkpoint import load_checkpoint

    corpus = fuzzlib.Corpus.build(tmp_path / "corpus")
    assert load_checkpoint(corpus.checkpoint).settings.T == 2
    for mutant in fuzzlib.network_mutants(corpus.checkpoint, np.random.default_rng(3), checkpoint=True):
        if mutant.valid is False:
            path = mutant.write(tmp_path, mutant.kind.replace("/", "_"))
            with pytest.raises(eventsim.ModelFileError):
                load_checkpoint(path)


@pytest.mark.parametrize("compressed", [False, True])
def test_the_safe_reader_reads_what_numpy_writes(tmp_path, compressed):
    """The reader that checks headers before allocating returns what np.load would: byte orders,
    Fortran order, bools and small ints, compressed or not."""
    save = np.savez_compressed if compressed else np.savez
    rng = np.random.default_rng(0)
    for x in (
        np.arange(24, dtype=">f4").reshape(2, 3, 4),
        np.asfortranarray(rng.random((3, 4, 5))),
        rng.random((4, 1, 8, 8)) > 0.5,
        np.arange(6, dtype=np.uint8).reshape(3, 2),
    ):
        save(tmp_path / "d.npz", x=x, y=np.arange(len(x)))
        loaded, labels = eventsim.load_data_file(tmp_path / "d.npz")
        assert loaded.dtype == x.dtype and np.array_equal(loaded, x) and np.array_equal(labels, np.arange(len(x)))
        np.save(tmp_path / "d.npy", x)
        assert np.array_equal(eventsim.load_data_file(tmp_path / "d.npy")[0], x)


def test_infinite_and_overflowing_weights_are_refused(tmp_path):
    """An infinite input std (that pixel silently ignored) and weights whose products overflow
    float32 (a flipped exponent bit) are damage, not a model."""
    model = onnx.load(str(example_model_path("digits_mlp")))
    std = next(t for t in model.graph.initializer if tuple(t.dims) == (1, 8, 8) and "std" in t.name)
    values = onnx.numpy_helper.to_array(std).copy()
    values[0, 3, 3] = np.inf
    std.CopyFrom(onnx.numpy_helper.from_array(values, std.name))
    onnx.save(model, str(tmp_path / "inf.onnx"))
    clean_error(run("inspect", tmp_path / "inf.onnx"), "NaN or infinite", std.name)
    model = onnx.load(str(example_model_path("digits_mlp")))
    for init in model.graph.initializer:
        if len(init.dims) == 2:
            init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * np.float32(1e30), init.name))
    onnx.save(model, str(tmp_path / "huge.onnx"))
    clean_error(run("inspect", tmp_path / "huge.onnx"), "not finite on an input of ones")
