"""Verification of an import: the eventsim ANN executor against onnxruntime on the same file."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from eventsim.data import check_batch
from eventsim.errors import DataError, ModelFileError, OptionError, ShapeError
from eventsim.ir import Graph, run_ann

from .loader import load_onnx, read_model

_NP_TYPES = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16,
}


@dataclass
class VerifyReport:
    """Agreement of eventsim's executor with onnxruntime on one model and one batch.

    ``passed`` means ``max_abs_error <= tolerance`` with ``tolerance = rtol * max(1, max |reference|)``.
    ``argmax_agreement`` is the fraction of samples with the same predicted class (class outputs).
    """

    onnx_output: str
    samples: int
    max_abs_error: float
    reference_scale: float
    tolerance: float
    passed: bool
    argmax_agreement: float | None
    inputs: str

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """What was compared, the largest difference against the tolerance, and the verdict."""
        lines = [
            f"compared output {self.onnx_output!r} on {self.inputs}",
            f"max |eventsim - onnxruntime| = {self.max_abs_error:.3g}  (tolerance {self.tolerance:.3g})  "
            + ("OK" if self.passed else "MISMATCH"),
        ]
        if self.argmax_agreement is not None:
            lines.append(f"same predicted class: {self.argmax_agreement:.2%} of samples")
        return "\n".join(lines)


def onnxruntime_outputs(model: onnx.ModelProto, x: np.ndarray, tensor: str, static_batch: int | None) -> np.ndarray:
    """Run onnxruntime on ``x`` and return the values of ``tensor`` (a graph output or not)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    if tensor not in [o.name for o in model.graph.output]:
        del model.graph.output[:]
        model.graph.output.append(helper.make_empty_tensor_value_info(tensor))
    try:
        return _run_onnxruntime(model, x, tensor, static_batch)
    except Exception as exc:  # onnxruntime's Fail, InvalidGraph, InvalidArgument, NotImplemented, ...
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ModelFileError(
            f"onnxruntime cannot run the model that eventsim imported, so nothing can be compared: {first[:400]}",
            "re-export the model with a released opset, float32 weights and inputs, and its real input shape; "
            "'eventsim inspect' shows what eventsim made of it",
        ) from None


def _run_onnxruntime(model: onnx.ModelProto, x: np.ndarray, tensor: str, static_batch: int | None) -> np.ndarray:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    dtype = _NP_TYPES.get(
        model.graph.input[[i.name for i in model.graph.input].index(inp.name)].type.tensor_type.elem_type, np.float32
    )
    step = static_batch or max(len(x), 1)
    parts = []
    for start in range(0, len(x), step):
        chunk = x[start : start + step]
        n = len(chunk)
        if n < step:  # a static batch axis: pad the last chunk
            chunk = np.concatenate([chunk, np.zeros((step - n,) + chunk.shape[1:], chunk.dtype)])
        parts.append(session.run([tensor], {inp.name: chunk.astype(dtype)})[0][:n])
    return np.concatenate(parts).astype(np.float32)


def verify_onnx(
    source: str | Path | onnx.ModelProto,
    x: np.ndarray | None = None,
    samples: int = 16,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
    rtol: float = 1e-4,
    graph: Graph | None = None,
) -> VerifyReport:
    """Compare eventsim's import of ``source`` with onnxruntime on the same inputs.

    Parameters
    ----------
    source : str, Path or onnx.ModelProto
        The model.
    x : numpy.ndarray, optional
        Inputs (N,) + the model's input shape; default ``samples`` uniform random inputs in [0, 1).
    samples, seed : int
        Number and seed of random inputs when ``x`` is not given.
    input_shape : tuple of int, optional
        Per-sample input shape for models with dynamic dimensions.
    rtol : float
        Tolerance relative to ``max(1, max |reference output|)``.
    graph : Graph, optional
        An already imported graph of ``source``.
    """
    if x is None and (isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1):
        raise OptionError(f"samples must be a positive number of random inputs, got {samples!r}", "pass samples >= 1")
    if not rtol >= 0:
        raise OptionError(f"rtol must be 0 or more, got {rtol!r}", "pass a tolerance such as 1e-4")
    model = read_model(source)
    graph = graph if graph is not None else load_onnx(model, input_shape)
    if x is not None and len(x) == 0:
        raise DataError("the data to verify on holds no samples", "pass at least one sample")
    if x is None:
        x = np.random.default_rng(seed).random((samples,) + graph.input_shape, dtype=np.float32)
        described = f"{samples} uniform random samples in [0, 1) (seed {seed})"
    else:
        described = f"{len(x)} samples from data"
    x = check_batch(x, graph.input_shape)
    tensor = graph.node(graph.output).source or graph.meta.get("onnx_output")
    ref = onnxruntime_outputs(model, x, tensor, graph.meta.get("static_batch"))
    ours = run_ann(graph, x)
    ref = ref.reshape(ours.shape) if ref.size == ours.size else ref
    if ref.shape != ours.shape:
        raise ShapeError(
            f"onnxruntime gives output {tensor!r} the shape {ref.shape}, eventsim's import {ours.shape}",
            "the model's graph is inconsistent; re-export it",
        )
    err = float(np.max(np.abs(ours - ref))) if ref.size else 0.0
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    agree = None
    if ours.ndim == 2 and ours.shape[1] > 1:
        agree = float(np.mean(np.argmax(ours, 1) == np.argmax(ref, 1)))
    return VerifyReport(tensor, len(x), err, scale, rtol * scale, err <= rtol * scale, agree, described)
