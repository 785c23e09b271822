"""Mutated inputs for eventsim's commands and the verdict on each run, shared by the fuzz tests
(tests/fuzz/) and the longer run in bench/fuzz_cli.py.

A *mutant* is a file (ONNX model, data file, network file, training checkpoint or NIR graph) made
by damaging a valid one, with what an honest tool must do with it: ``valid=False`` (garbage: only a
clean refusal is right), ``valid=True`` (a correct result or a clean refusal of something
unsupported), or ``valid=None`` for ONNX models (onnxruntime decides: :func:`onnx_oracle`).

Every command run ends in one class of :data:`GOOD` (``clean_error``: exit 2 and exactly one
``error:`` line; ``correct``: exit 0 on valid input, checked where an oracle is cheap) or of the
failures: ``traceback`` (any exception other than exit), ``exit0_on_garbage``, ``wrong_result``,
``bad_exit`` (another exit code, or exit 2 with no or several error lines), ``partial_output``
(an output or temporary file left behind after a failure), ``pickle`` (``np.load`` called with
``allow_pickle=True``) and ``hang`` (over the per-run time limit).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import signal
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

GOOD = ("clean_error", "correct")
FAILURES = ("traceback", "exit0_on_garbage", "wrong_result", "bad_exit", "partial_output", "pickle", "hang")


@dataclass
class Mutant:
    """A damaged (or harmless) input file and what may be done with it."""

    kind: str  # the mutation, e.g. "onnx/flip_bytes"
    data: bytes
    suffix: str
    valid: bool | None  # None: ask the oracle
    note: str = ""

    def write(self, directory: Path, stem: str = "input") -> Path:
        path = directory / f"{stem}{self.suffix}"
        path.write_bytes(self.data)
        return path


@dataclass
class Outcome:
    verdict: str
    command: str
    kind: str
    exit_code: int | None
    detail: str = ""


# -- the base files -------------------------------------------------------------------------------


@dataclass
class Corpus:
    """The valid files every mutation starts from, written once into ``root``."""

    root: Path
    models: dict[str, Path] = field(default_factory=dict)
    data: Path | None = None  # x (16, 1, 8, 8) float32 and y (16,) int64: digits test samples
    calib: Path | None = None  # 32 calibration samples
    model_data: dict[str, Path] = field(default_factory=dict)  # data for each model
    nets: dict[str, Path] = field(default_factory=dict)
    checkpoint: Path | None = None
    exportable: Path | None = None  # a network NIR can express (the gemm model's)
    nir: Path | None = None

    @classmethod
    def build(cls, root: Path) -> Corpus:
        import onnx

        import eventsim
        from eventsim.examples import example_model_path, load_example_data
        from eventsim.training.checkpoint import save_checkpoint
        from eventsim.training.estimators import parse_estimator
        from eventsim.training.optimizers import Optimizer
        from eventsim.training.prepare import training_network
        from eventsim.training.trainer import TrainSettings, TrainState

        root.mkdir(parents=True, exist_ok=True)
        corpus = cls(root)
        for name in ("digits_cnn", "digits_mlp"):
            corpus.models[name] = Path(shutil.copy(example_model_path(name), root / f"{name}.onnx"))
        gemm = root / "gemm.onnx"
        onnx.save(gemm_model(), str(gemm))
        corpus.models["gemm"] = gemm
        d = load_example_data()
        corpus.data, corpus.calib = root / "data.npz", root / "calib.npz"
        np.savez(corpus.data, x=d["x_test"][:16], y=d["y_test"][:16])
        np.savez(corpus.calib, x=d["x_calib"][:32], y=d["y_calib"][:32])
        rng = np.random.default_rng(0)
        corpus.model_data = {"digits_cnn": corpus.data, "digits_mlp": corpus.data, "gemm": root / "gemm_data.npz"}
        np.savez(corpus.model_data["gemm"], x=rng.random((16, 2, 8, 8), dtype=np.float32), y=rng.integers(0, 10, 16))
        for name in ("digits_cnn", "digits_mlp"):
            graph = eventsim.load_onnx(corpus.models[name])
            net = eventsim.convert(graph, d["x_calib"][:32], "opi")
            corpus.nets[name] = root / f"net_{name}.npz"
            net.save(corpus.nets[name])
        gemm_net = eventsim.convert(eventsim.load_onnx(gemm), rng.random((32, 2, 8, 8), dtype=np.float32), "opi")
        corpus.exportable = root / "net_gemm.npz"
        gemm_net.save(corpus.exportable)
        mlp = eventsim.load_onnx(corpus.models["digits_mlp"])
        state = TrainState(
            training_network(mlp), Optimizer("adam", 1e-3, 0.0, 0.0), TrainSettings(T=2, epochs=1, batch_size=16),
            parse_estimator("localzo"),
        )  # fmt: skip
        corpus.checkpoint = root / "checkpoint.npz"
        save_checkpoint(state, corpus.checkpoint)
        try:  # the digits models' max pools and per-pixel input normalisation have no NIR form
            corpus.nir = root / "net.nir"
            eventsim.write_nir(gemm_net, corpus.nir)
        except Exception:  # noqa: BLE001  (no nir package: import-nir is not fuzzed)
            corpus.nir = None
        return corpus


def gemm_model():
    """A small model with what the bundled ones lack: Gemm with transB, a grouped conv, an average pool."""
    from onnx_builders import Builder

    b = Builder((2, 8, 8), opset=13)
    h = b.conv(b.input, 2, 4, group=2, pads=[1, 1, 1, 1])
    h = b.op("Relu", [h])
    h = b.op("AveragePool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.op("Flatten", [h])
    w = b.const(b.randn(10, 64, scale=0.2), "W")
    out = b.op("Gemm", [h, w, b.const(b.randn(10, scale=0.1), "b")], transB=1)
    return b.model(out)


# -- ONNX mutations ---------------------------------------------------------------------------------

_OPS = ("Relu", "Sigmoid", "Conv", "Gemm", "MatMul", "Add", "MaxPool", "Identity", "Transpose", "Softmax", "Floor")
_BAD_INTS = (0, -1, -3, 1000, 1 << 20, 5)


def onnx_mutants(model_bytes: bytes, rng: np.random.Generator) -> Iterator[Mutant]:
    """One mutant of each ONNX mutation (in random order of their parameters)."""
    for mutate in ONNX_MUTATIONS:
        mutant = mutate(model_bytes, rng)
        if mutant is not None:
            yield mutant


def _model(model_bytes: bytes):
    import onnx

    return onnx.ModelProto.FromString(model_bytes)


def _done(kind: str, model, valid: bool | None, note: str = "") -> Mutant:
    return Mutant(f"onnx/{kind}", model.SerializeToString(), ".onnx", valid, note)


def m_truncate(b: bytes, rng) -> Mutant:
    cut = int(rng.integers(0, len(b)))
    return Mutant("onnx/truncate", b[:cut], ".onnx", False, f"{cut} of {len(b)} bytes")


def m_flip(b: bytes, rng) -> Mutant:
    arr = bytearray(b)
    for pos in rng.integers(0, len(arr), int(rng.integers(1, 8))):
        arr[pos] ^= int(rng.integers(1, 256))
    # a flipped byte in a weight is a valid model with other weights: the oracle decides
    return Mutant("onnx/flip_bytes", bytes(arr), ".onnx", None)


def m_remove_node(b: bytes, rng) -> Mutant:
    m = _model(b)
    i = int(rng.integers(len(m.graph.node)))
    del m.graph.node[i]
    return _done("remove_node", m, None, f"node {i}")


def m_remove_init(b: bytes, rng) -> Mutant:
    m = _model(b)
    i = int(rng.integers(len(m.graph.initializer)))
    del m.graph.initializer[i]
    return _done("remove_initializer", m, None, f"initializer {i}")


def m_swap_op(b: bytes, rng) -> Mutant:
    m = _model(b)
    node = m.graph.node[int(rng.integers(len(m.graph.node)))]
    node.op_type = str(rng.choice([o for o in _OPS if o != node.op_type]))
    return _done("swap_op", m, None, node.op_type)


def m_rewire(b: bytes, rng) -> Mutant:
    m = _model(b)
    names = (
        [m.graph.input[0].name] + [o for n in m.graph.node for o in n.output] + [t.name for t in m.graph.initializer]
    )
    node = m.graph.node[int(rng.integers(len(m.graph.node)))]
    if not node.input:
        return None
    j = int(rng.integers(len(node.input)))
    node.input[j] = str(rng.choice(names))
    return _done("rewire", m, None, f"{node.name} input {j} <- {node.input[j]}")


def m_cycle(b: bytes, rng) -> Mutant:
    m = _model(b)
    last = m.graph.node[-1].output[0]
    m.graph.node[0].input[0] = last
    return _done("cycle", m, False)


def m_attribute(b: bytes, rng) -> Mutant:
    from onnx import helper

    m = _model(b)
    spatial = [n for n in m.graph.node if n.op_type in ("Conv", "MaxPool", "AveragePool")]
    if not spatial:
        return None
    node = spatial[int(rng.integers(len(spatial)))]
    name = str(rng.choice(["strides", "dilations", "kernel_shape", "pads", "group"]))
    if name == "group" and node.op_type != "Conv":
        name = "strides"
    v = int(rng.choice(_BAD_INTS))
    value = v if name == "group" else [v] * (4 if name == "pads" else 2)
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep + [helper.make_attribute(name, value)])
    return _done("attribute", m, None, f"{node.op_type}.{name}={value}")


def m_init_shape(b: bytes, rng) -> Mutant:
    from onnx import numpy_helper

    m = _model(b)
    floats = [t for t in m.graph.initializer if t.data_type == 1 and len(t.dims) >= 1]
    t = floats[int(rng.integers(len(floats)))]
    arr = numpy_helper.to_array(t)
    shape = list(arr.shape)
    axis = int(rng.integers(len(shape)))
    shape[axis] = max(1, shape[axis] + int(rng.choice([-1, 1, 3])))
    if rng.random() < 0.3:
        shape = shape[::-1] if len(shape) > 1 else shape + [1]
    new = rng.standard_normal(shape).astype(np.float32) * 0.1
    t.CopyFrom(numpy_helper.from_array(new, t.name))
    return _done("initializer_shape", m, None, f"{t.name} {arr.shape} -> {tuple(shape)}")


def m_nan_weights(b: bytes, rng) -> Mutant:
    from onnx import numpy_helper

    m = _model(b)
    floats = [t for t in m.graph.initializer if t.data_type == 1 and np.prod(t.dims) > 1]
    t = floats[int(rng.integers(len(floats)))]
    arr = numpy_helper.to_array(t).copy()
    arr.flat[int(rng.integers(arr.size))] = rng.choice([np.nan, np.inf, -np.inf])
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return _done("nan_weights", m, False, t.name)


def m_input_shape(b: bytes, rng) -> Mutant:
    from onnx import helper

    m = _model(b)
    inp = m.graph.input[0]
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    choice = str(rng.choice(["rank1", "rank5", "zero", "negative", "zero_batch"]))
    new = {
        "rank1": [dims[0]],
        "rank5": dims + [1],
        "zero": [dims[0]] + [0] + dims[2:],
        "negative": [dims[0]] + [-3] + dims[2:],
        "zero_batch": [0] + dims[1:],
    }[choice]
    inp.CopyFrom(helper.make_tensor_value_info(inp.name, inp.type.tensor_type.elem_type, new))
    return _done("input_shape", m, False, f"{choice} {new}")


def m_elem_type(b: bytes, rng) -> Mutant:
    from onnx import TensorProto, numpy_helper

    m = _model(b)
    if rng.random() < 0.5:
        t = m.graph.initializer[int(rng.integers(len(m.graph.initializer)))]
        arr = numpy_helper.to_array(t)
        to = rng.choice(["bool", "int64", "int8"])
        t.CopyFrom(numpy_helper.from_array((arr > 0).astype(to) if to == "bool" else arr.astype(to), t.name))
        return _done("elem_type/initializer", m, False, f"{t.name} -> {to}")
    to = rng.choice([TensorProto.BFLOAT16, TensorProto.INT64, TensorProto.UINT8, TensorProto.BOOL, TensorProto.STRING])
    m.graph.input[0].type.tensor_type.elem_type = int(to)
    return _done("elem_type/input", m, False, TensorProto.DataType.Name(int(to)))


def m_opset(b: bytes, rng) -> Mutant:
    m = _model(b)
    v = int(rng.choice([1, 5, 999, 10]))
    for entry in m.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = v
    return _done("opset", m, None if v == 10 else False, str(v))


def m_outputs(b: bytes, rng) -> Mutant:
    m = _model(b)
    choice = str(rng.choice(["none", "two", "renamed"]))
    if choice == "none":
        del m.graph.output[:]
    elif choice == "two":
        extra = m.graph.output.add()
        extra.CopyFrom(m.graph.output[0])
        extra.name = m.graph.node[0].output[0]
    else:
        m.graph.output[0].name = "nowhere"
    return _done("outputs", m, None if choice == "two" else False, choice)


def m_empty(b: bytes, rng) -> Mutant:
    m = _model(b)
    del m.graph.node[:]
    if rng.random() < 0.5:
        del m.graph.initializer[:]
    return _done("empty_graph", m, False)


def m_value_info(b: bytes, rng) -> Mutant:
    from onnx import TensorProto, helper

    m = _model(b)
    node = m.graph.node[int(rng.integers(len(m.graph.node)))]
    wrong = str(rng.choice(["shape", "type", "output"]))
    if wrong == "output":
        out = m.graph.output[0]
        dims = [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim] or ["N", 10]
        out.CopyFrom(
            helper.make_tensor_value_info(
                out.name, TensorProto.FLOAT, dims[:1] + [d + 7 if isinstance(d, int) else 3 for d in dims[1:]] + [2]
            )
        )
    else:
        elem = TensorProto.INT32 if wrong == "type" else TensorProto.FLOAT
        m.graph.value_info.append(helper.make_tensor_value_info(node.output[0], elem, ["N", 999, 3]))
    return _done("value_info", m, False, f"{wrong} of {node.output[0]}")


def m_gemm_transb(b: bytes, rng) -> Mutant:
    m = _model(b)
    gemms = [n for n in m.graph.node if n.op_type == "Gemm" and any(a.name == "transB" for a in n.attribute)]
    if not gemms:
        return None
    node = gemms[int(rng.integers(len(gemms)))]
    keep = [a for a in node.attribute if a.name != "transB"]
    del node.attribute[:]
    node.attribute.extend(keep)
    return _done("gemm_no_transB", m, None)


ONNX_MUTATIONS: tuple[Callable, ...] = (
    m_truncate, m_flip, m_remove_node, m_remove_init, m_swap_op, m_rewire, m_cycle, m_attribute, m_init_shape,
    m_nan_weights, m_input_shape, m_elem_type, m_opset, m_outputs, m_empty, m_value_info, m_gemm_transb,
)  # fmt: skip


def onnx_oracle(path: Path) -> tuple[bool, str]:
    """Whether onnxruntime (without graph optimisations) runs the model on random inputs in [0, 1) to
    a finite output; the reason when not."""
    import onnx
    import onnxruntime as ort

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model, full_check=True)
        options = ort.SessionOptions()
        options.log_severity_level = 4
        options.intra_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        if inp.type != "tensor(float)":
            return False, f"input type {inp.type}"
        shape = [d if isinstance(d, int) else 2 for d in inp.shape]
        if len(shape) < 2 or min(shape) < 1:
            return False, f"input shape {inp.shape}"
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        out = session.run(None, {inp.name: x})[0]
        if not np.issubdtype(out.dtype, np.floating) or not np.all(np.isfinite(out)) or out.size == 0:
            return False, "output not finite floats"
        return True, ""
    except Exception as exc:  # noqa: BLE001  (any refusal means garbage)
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"


def imports_correctly(path: Path) -> tuple[bool, str]:
    """eventsim's executor on its import of ``path`` agrees with onnxruntime (the import is right)."""
    import onnx
    import onnxruntime as ort

    import eventsim

    try:
        graph = eventsim.load_onnx(path)
    except eventsim.EventsimError as exc:
        return False, f"import refused afterwards: {exc.problem}"
    model = onnx.load(str(path))
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    batch = inp.shape[0] if isinstance(inp.shape[0], int) else 3
    x = np.random.default_rng(1).random((batch,) + graph.input_shape, dtype=np.float32)
    ref = session.run(None, {inp.name: x.reshape([batch] + list(inp.shape[1:]))})[0]
    ours = eventsim.run_ann(graph, x)
    if ref.size != ours.size:
        return False, f"output size {ours.shape} vs onnxruntime {ref.shape}"
    err = float(np.max(np.abs(ours.ravel() - ref.ravel())))
    tol = 1e-4 * max(1.0, float(np.max(np.abs(ref))))
    return err <= tol, f"max error {err:.3g} (tolerance {tol:.3g})"


# -- data-file mutations --------------------------------------------------------------------------


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(array, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def huge_npy_header(shape=(784_000_000_000_000,), dtype="<f4") -> bytes:
    """An .npy file whose header claims ``shape`` but that holds a few bytes of data."""
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + b"\0" * 64


def data_mutants(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, classes: int = 10) -> list[Mutant]:
    """Damaged data files made from valid inputs ``x`` (float, in [0, 1]) and labels ``y``."""
    n = len(x)
    out: list[Mutant] = []

    def add(kind, data, valid, suffix=".npz", note=""):
        out.append(Mutant(f"data/{kind}", data, suffix, valid, note))

    add("valid", _npz(x=x, y=y), True)
    add("wrong_keys", _npz(images=x, labels=y), False)
    add("only_x", _npz(x=x), True)  # valid where labels are optional
    add("rank_low", _npz(x=x.reshape(n, -1)[:, : x[0].size // 2], y=y), False)
    add("rank_high", _npz(x=x[:, None], y=y), False)
    add("no_batch_axis", _npz(x=x[0], y=y[:1]), False)
    add("channels", _npz(x=np.repeat(x, 3, axis=1), y=y), False)
    add("nhwc", _npz(x=np.ascontiguousarray(np.moveaxis(x, 1, -1)), y=y), False)
    add("zero_samples", _npz(x=x[:0], y=y[:0]), False)
    bad = x.copy()
    bad.flat[int(rng.integers(bad.size))] = rng.choice([np.nan, np.inf, -np.inf])
    add("nan_inf", _npz(x=bad, y=y), False)
    add("ints", _npz(x=(x > 0.5).astype(np.int64), y=y), True)
    add("uint8", _npz(x=(x * 255).astype(np.uint8), y=y), True)
    add("bool", _npz(x=x > 0.5, y=y), True)
    add("float64", _npz(x=x.astype(np.float64), y=y), True)
    add("huge_values", _npz(x=x.astype(np.float64) * 1e300, y=y), False)
    add("complex", _npz(x=x.astype(np.complex64), y=y), False)
    add("strings", _npz(x=np.array(["a"] * n), y=y), False)
    obj = np.empty(n, dtype=object)
    obj[:] = list(x)
    buf = io.BytesIO()
    np.savez(buf, x=obj, y=y)  # np.savez pickles object arrays
    add("object_array", buf.getvalue(), False)
    import pickle

    add("pickle", pickle.dumps({"x": x, "y": y}), False)
    add("pickle_npy", pickle.dumps(x), False, suffix=".npy")
    add("labels_out_of_range", _npz(x=x, y=np.where(np.arange(n) % 2 == 0, classes + 3, -1).astype(np.int64)), False)
    add("labels_float", _npz(x=x, y=y.astype(np.float32)), False)
    add("labels_one_hot", _npz(x=x, y=np.eye(classes, dtype=np.int64)[y]), False)
    add("labels_short", _npz(x=x, y=y[: n // 2]), False)
    add("labels_long", _npz(x=x, y=np.concatenate([y, y])), False)
    add("labels_str", _npz(x=x, y=np.array(["cat"] * n)), False)
    full = _npz(x=x, y=y)
    cut = int(rng.integers(1, len(full)))
    add("truncated_npz", full[:cut], False, note=f"{cut} of {len(full)}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not numpy")
    add("zip_not_npz", buf.getvalue(), False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("x.npy", b"\x93NUMPY garbage")
    add("zip_bad_member", buf.getvalue(), False)
    add("npy_as_npz", _npy(x), True, note="x only, .npy bytes under .npz")
    add("npz_as_npy", full, True, suffix=".npy")
    add("npy", _npy(x), True, suffix=".npy")
    add("npy_other_suffix", _npy(x), True, suffix=".dat")
    add("huge_header_npy", huge_npy_header(), False, suffix=".npy")
    add("huge_header_npz", _zip_member("x.npy", huge_npy_header((784_000_000, 1, 10, 10))), False)
    add("empty_file", b"", False)
    add("text", b"1,2,3\n4,5,6\n", False, suffix=".csv")
    flipped = bytearray(full)
    for pos in rng.integers(0, len(flipped), 4):
        flipped[pos] ^= 0xFF
    add("flip_bytes", bytes(flipped), None)  # may survive (a flipped float); judged by its content
    return out


def _zip_member(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


# -- network-file and checkpoint mutations -------------------------------------------------------


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def _meta_bytes(doc) -> np.ndarray:
    return np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)


def _edit_json(doc: dict, rng) -> tuple[dict | list | str, str]:
    """A random edit of a network's (or checkpoint's) JSON description."""
    doc = json.loads(json.dumps(doc))
    target = doc.get("network", doc)  # a checkpoint holds the network's description under "network"
    choice = str(
        rng.choice(
            ["version", "format", "drop_graph", "drop_layers", "kind", "period", "leak", "reset", "op", "attrs",
             "layer_name", "decoding", "list", "burst", "inputs", "stage"]
        )
    )  # fmt: skip
    layers = target.get("layers", {})
    name = next(iter(layers), None)
    graph = target.get("graph", {})
    nodes = graph.get("nodes", []) if isinstance(graph, dict) else []
    node = nodes[int(rng.integers(len(nodes)))] if nodes else None
    if choice == "version":
        doc["version"] = int(rng.choice([0, 2, 99]))
    elif choice == "format":
        doc["format"] = "something.else"
    elif choice == "drop_graph":
        target.pop("graph", None)
    elif choice == "drop_layers":
        target.pop("layers", None)
    elif choice == "list":
        return [1, 2, 3], choice
    elif name is None or node is None:
        doc["version"] = "1"
    elif choice == "kind":
        layers[name]["kind"] = str(rng.choice(["nonsense", "", "lif2"]))
    elif choice == "period":
        layers[name]["period"] = int(rng.choice([-4, 10**12])) if rng.random() < 0.7 else "eight"
    elif choice == "leak":
        layers[name]["leak"] = float(rng.choice([-1.0, 2.0, float("nan")]))
    elif choice == "reset":
        layers[name]["reset"] = "explode"
    elif choice == "burst":
        layers[name]["burst"] = int(rng.choice([0, -2]))
    elif choice == "stage":
        layers[name]["stage"] = int(rng.choice([-5, 10**9]))
    elif choice == "layer_name":
        layers["not_a_node"] = layers.pop(name)
    elif choice == "decoding":
        target["decoding"] = "vote"
    elif choice == "op":
        node["op"] = str(rng.choice([op for op in ("softmax", "", "conv", "dense", "relu") if op != node.get("op")]))
    elif choice == "inputs":
        node["inputs"] = ["ghost"] if rng.random() < 0.5 else [node.get("name", "x")]
    elif choice == "attrs":
        attrs = node.get("attrs", {})
        if attrs:
            key = str(rng.choice(sorted(attrs)))
            attrs[key] = rng.choice([None, -1, "x", [0, 0], 10**9]).item() if False else [-1, 0]
        else:
            node["attrs"] = {"stride": 0}
    return doc, choice


def network_mutants(path: Path, rng: np.random.Generator, checkpoint: bool = False) -> list[Mutant]:
    """Damaged copies of a network file (or of a checkpoint, ``checkpoint=True``)."""
    base = path.read_bytes()
    arrays = _arrays(path)
    meta = json.loads(arrays["__meta__"].tobytes().decode())
    what = "checkpoint" if checkpoint else "network"
    out: list[Mutant] = []

    def add(kind, data, valid, note="", suffix=".npz"):
        out.append(Mutant(f"{what}/{kind}", data, suffix, valid, note))

    def save(changed: dict) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **changed)
        return buf.getvalue()

    add("valid", base, True)
    cut = int(rng.integers(1, len(base)))
    add("truncated", base[:cut], False, f"{cut} of {len(base)}")
    flipped = bytearray(base)
    for pos in rng.integers(0, len(flipped), 3):
        flipped[pos] ^= 0xFF
    add("flip_bytes", bytes(flipped), None)
    for _ in range(3):
        doc, choice = _edit_json(meta, rng)
        changed = dict(arrays, __meta__=_meta_bytes(doc))
        add(f"json/{choice}", save(changed), False)
    changed = dict(
        arrays, __meta__=np.frombuffer(b"{not json" + bytes(rng.integers(128, 256, 8).astype(np.uint8)), np.uint8)
    )
    add("json/invalid", save(changed), False)
    changed = dict(arrays, __meta__=np.arange(7, dtype=np.float64))
    add("json/float_meta", save(changed), False)
    keys = [k for k in arrays if k != "__meta__" and not k.startswith("opt/")]
    key = str(rng.choice(keys))
    add("array_removed", save({k: v for k, v in arrays.items() if k != key}), False, key)
    key = str(rng.choice(keys))
    v = arrays[key]
    add("array_reshaped", save(dict(arrays, **{key: np.resize(v, (v.size + 3,))})), False, key)
    floats = [k for k in keys if arrays[k].dtype.kind == "f" and arrays[k].size]
    key = str(rng.choice(floats))
    v = arrays[key].copy()
    v.flat[int(rng.integers(v.size))] = rng.choice([np.nan, np.inf])
    add("array_nan", save(dict(arrays, **{key: v})), False, key)
    thresholds = [k for k in keys if k.endswith("/threshold")]
    if thresholds:
        key = str(rng.choice(thresholds))
        add("threshold_zero", save(dict(arrays, **{key: np.zeros_like(arrays[key])})), False, key)
        add("threshold_negative", save(dict(arrays, **{key: -np.abs(arrays[key]) - 1})), False, key)
    key = str(rng.choice(keys))
    add(
        "array_dtype",
        save(
            dict(
                arrays,
                **{key: arrays[key].astype(np.int64) if arrays[key].dtype.kind == "f" else arrays[key].astype(str)},
            )
        ),
        False,
        key,
    )
    if checkpoint:
        opt = [k for k in arrays if k.startswith("opt/")]
        if opt:
            key = str(rng.choice(opt))
            add("optimizer_reshaped", save(dict(arrays, **{key: np.zeros(3)})), False, key)
    add("data_file_instead", _npz(x=np.zeros((2, 64), np.float32)), False)
    obj = np.empty(2, dtype=object)
    buf = io.BytesIO()
    np.savez(buf, __meta__=obj)
    add("pickled_meta", buf.getvalue(), False)
    return out


def nir_mutants(path: Path, rng: np.random.Generator) -> list[Mutant]:
    base = path.read_bytes()
    out = [Mutant("nir/valid", base, ".nir", True)]
    cut = int(rng.integers(1, len(base)))
    out.append(Mutant("nir/truncated", base[:cut], ".nir", False))
    flipped = bytearray(base)
    for pos in rng.integers(0, len(flipped), 6):
        flipped[pos] ^= 0xFF
    out.append(Mutant("nir/flip_bytes", bytes(flipped), ".nir", None))
    out.append(Mutant("nir/npz_instead", _npz(x=np.zeros(3)), ".nir", False))
    out.append(Mutant("nir/empty", b"", ".nir", False))
    return out


#: Commands that use the labels of a data file (the others may ignore bad labels).
LABEL_COMMANDS = frozenset({"verify", "simulate", "compare", "train", "finetune", "train-ttfs"})


def valid_for(mutant: Mutant, command: str, valid: bool) -> bool:
    """Whether ``mutant`` (judged ``valid`` as a whole) is valid input of ``command``: damaged labels
    are garbage only to the commands that use them."""
    if mutant.kind.startswith("data/labels_") and command not in LABEL_COMMANDS:
        return True
    return valid


# -- running one command --------------------------------------------------------------------------

_ERROR_LINE = re.compile(r"^(error|Error): ", re.MULTILINE)


class _Timeout(BaseException):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    if not seconds:
        yield
        return

    def expire(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _watch_pickles(seen: list):
    """Record every np.load with allow_pickle=True (eventsim must never unpickle a user's file)."""
    original = np.load

    def load(file, *args, **kwargs):
        if kwargs.get("allow_pickle") or (len(args) >= 2 and args[1]):
            seen.append(str(file))
        return original(file, *args, **kwargs)

    np.load = load
    try:
        yield
    finally:
        np.load = original


def run_command(
    args: list[str],
    outputs: list[Path],
    valid: bool,
    check: Callable[[str], tuple[bool, str]] | None = None,
    timeout: float = 120.0,
    command: str | None = None,
    kind: str = "",
) -> Outcome:
    """Run ``eventsim ARGS`` in this process and judge it.

    ``outputs``: the files the command is asked to write (none may exist after a failure, nor a
    temporary file beside them). ``valid``: whether the inputs are correct; an exit 0 on invalid
    input is ``exit0_on_garbage``, and on valid input ``check(output_text)`` (if given) must hold.
    """
    from click.testing import CliRunner
    from eventsim.cli.main import main

    command = command or args[0]
    for path in outputs:
        assert not path.exists(), path
    seen: list[str] = []
    runner = CliRunner()
    try:
        with _time_limit(timeout), _watch_pickles(seen):
            result = runner.invoke(main, args, catch_exceptions=True)
    except _Timeout:
        return Outcome("hang", command, kind, None, f"over {timeout} s")
    if isinstance(result.exception, _Timeout):
        return Outcome("hang", command, kind, None, f"over {timeout} s")
    text = result.output
    code = result.exit_code
    if seen:
        return Outcome("pickle", command, kind, code, ", ".join(seen))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(__import__("traceback").format_exception(result.exception))
        return Outcome("traceback", command, kind, code, tb[-1500:])
    if code != 0:
        leftovers = [p for p in outputs if p.exists()]
        leftovers += [q for p in outputs if p.parent.is_dir() for q in p.parent.glob(f".{p.name}.*")]
        if leftovers:
            return Outcome("partial_output", command, kind, code, ", ".join(map(str, leftovers)))
        errors = _ERROR_LINE.findall(text)
        if code == 2 and len(errors) == 1:
            return Outcome("clean_error", command, kind, code, text.strip()[-400:])
        return Outcome("bad_exit", command, kind, code, text.strip()[-800:])
    if not valid:
        return Outcome("exit0_on_garbage", command, kind, code, text.strip()[-400:])
    if check is not None:
        ok, why = check(text)
        if not ok:
            return Outcome("wrong_result", command, kind, code, why)
    return Outcome("correct", command, kind, code)


# -- which commands read which file ------------------------------------------------------------


def onnx_commands(
    model: Path, data: Path, corpus: Corpus, out: Path, full: bool = False
) -> list[tuple[str, list[str], list[Path]]]:
    """(name, args, outputs) of the commands that read an ONNX model (``full``: the training ones too)."""
    data = str(data)
    runs = [
        ("inspect", ["inspect", str(model)], []),
        ("verify", ["verify", str(model), "--samples", "4", "--json", str(out / "v.json")], [out / "v.json"]),
        (
            "convert",
            ["convert", str(model), "--preset", "opi", "--calib", data, "-o", str(out / "net.npz")],
            [out / "net.npz"],
        ),
    ]
    if full:
        runs += [
            (
                "compare",
                [
                    "compare",
                    str(model),
                    "--calib",
                    data,
                    "--data",
                    data,
                    "--presets",
                    "opi",
                    "-T",
                    "2",
                    "--engine",
                    "reference",
                    "--out",
                    str(out / "cmp"),
                ],
                [out / "cmp"],
            ),
            (
                "train",
                ["train", str(model), "--data", data, "-T", "2", "--batch-size", "16", "-o", str(out / "t.npz")],
                [out / "t.npz"],
            ),
            (
                "train-ttfs",
                ["train-ttfs", str(model), "--data", data, "-T", "8", "--epochs", "1", "-o", str(out / "tt.npz")],
                [out / "tt.npz"],
            ),
        ]
    return runs


def data_commands(data: Path, corpus: Corpus, out: Path, full: bool = False) -> list[tuple[str, list[str], list[Path]]]:
    """(name, args, outputs) of the commands that read a data file (for the digits CNN)."""
    model, net = str(corpus.models["digits_cnn"]), str(corpus.nets["digits_cnn"])
    d = str(data)
    runs = [
        ("verify", ["verify", model, "--data", d, "--samples", "8"], []),
        ("convert", ["convert", model, "--preset", "opi", "--calib", d, "-o", str(out / "net.npz")], [out / "net.npz"]),
        (
            "simulate",
            ["simulate", net, "--data", d, "-T", "2", "--engine", "reference", "--json", str(out / "s.json")],
            [out / "s.json"],
        ),
        ("energy", ["energy", net, "--data", d, "-T", "2", "--engine", "reference"], []),
    ]
    if full:
        runs += [
            (
                "compare",
                ["compare", model, "--calib", d, "--data", d, "--presets", "opi", "-T", "2", "--engine", "reference"],
                [],
            ),
            (
                "train",
                ["train", model, "--data", d, "-T", "2", "--batch-size", "16", "-o", str(out / "t.npz")],
                [out / "t.npz"],
            ),
            (
                "finetune",
                ["finetune", net, "--data", d, "-T", "2", "--epochs", "1", "-o", str(out / "f.npz")],
                [out / "f.npz"],
            ),
            (
                "train-ttfs",
                ["train-ttfs", model, "--data", d, "-T", "8", "--epochs", "1", "-o", str(out / "tt.npz")],
                [out / "tt.npz"],
            ),
        ]
    return runs


def network_commands(
    net: Path, corpus: Corpus, out: Path, full: bool = False
) -> list[tuple[str, list[str], list[Path]]]:
    """(name, args, outputs) of the commands that read a network file."""
    data = str(corpus.data)
    runs = [
        ("simulate", ["simulate", str(net), "--data", data, "-T", "2", "--engine", "reference"], []),
        (
            "energy",
            ["energy", str(net), "--data", data, "-T", "2", "--engine", "reference", "--json", str(out / "e.json")],
            [out / "e.json"],
        ),
        ("export-nir", ["export-nir", str(net), str(out / "n.nir")], [out / "n.nir"]),
    ]
    if full:
        runs += [
            (
                "finetune",
                ["finetune", str(net), "--data", data, "-T", "2", "--epochs", "1", "-o", str(out / "f.npz")],
                [out / "f.npz"],
            ),
            (
                "train",
                ["train", str(net), "--data", data, "-T", "2", "--batch-size", "16", "-o", str(out / "t.npz")],
                [out / "t.npz"],
            ),
        ]
    return runs


def checkpoint_commands(ckpt: Path, corpus: Corpus, out: Path) -> list[tuple[str, list[str], list[Path]]]:
    model, data = str(corpus.models["digits_mlp"]), str(corpus.data)
    return [
        (
            "train --resume",
            [
                "train",
                model,
                "--data",
                data,
                "-T",
                "2",
                "--epochs",
                "2",
                "--batch-size",
                "16",
                "--resume",
                str(ckpt),
                "-o",
                str(out / "t.npz"),
            ],
            [out / "t.npz"],
        ),
    ]


def nir_commands(nir: Path, corpus: Corpus, out: Path) -> list[tuple[str, list[str], list[Path]]]:
    return [("import-nir", ["import-nir", str(nir), str(out / "net.npz")], [out / "net.npz"])]


def output_path_cases(corpus: Corpus, work: Path) -> list[tuple[str, list[str], list[Path]]]:
    """Commands asked to write where nothing can be written: under /proc, under a path whose parent
    is a file, onto a directory. Each must be one clear error and leave nothing behind."""
    work.mkdir(parents=True, exist_ok=True)
    blocker = work / "a_file"
    blocker.write_text("not a directory")
    folder = work / "a_dir.npz"
    folder.mkdir(exist_ok=True)
    model, data, net = str(corpus.models["digits_cnn"]), str(corpus.data), str(corpus.nets["digits_mlp"])
    convert = ["convert", model, "--preset", "opi", "--calib", data, "-o"]
    return [
        ("convert", convert + ["/proc/net.npz"], [Path("/proc/net.npz")]),
        ("convert", convert + [str(blocker / "net.npz")], []),
        ("convert", convert + [str(folder)], []),
        (
            "simulate",
            ["simulate", net, "--data", data, "-T", "2", "--engine", "reference", "--json", "/proc/s.json"],
            [],
        ),
        ("verify", ["verify", model, "--samples", "2", "--json", str(blocker / "v.json")], []),
        ("export-nir", ["export-nir", str(corpus.exportable), str(blocker / "n.nir")], []),
        ("export-nir", ["export-nir", str(corpus.exportable), "/proc/n.nir"], []),
    ]
