"""Small helpers that build ONNX models with ``onnx.helper`` and run them in onnxruntime and eventsim.

onnxruntime is the independent oracle: :func:`check_agrees` runs one model in both and asserts
``max|eventsim - ort| <= 1e-4 * max(1, max|ort|)``.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import eventsim

RTOL = 1e-4

#: Opsets the tests draw from (onnxruntime 1.31 runs all of them).
OPSETS = tuple(range(11, 22))


def ir_version_for(opset: int) -> int:
    """An IR version onnxruntime accepts together with ``opset``."""
    if opset <= 17:
        return 8
    if opset <= 20:
        return 9
    return 10


class Builder:
    """Accumulates nodes and initialisers of a one-input, one-output float model.

    Parameters
    ----------
    input_shape : tuple of int
        Per-sample shape (no batch axis).
    opset : int
        Version of the default operator set.
    batch : int or str
        Static batch size, or a dim_param name (e.g. ``"N"``) for a dynamic batch.
    """

    def __init__(self, input_shape, opset: int = 13, batch: int | str = "N", seed: int = 0) -> None:
        self.input_shape = tuple(int(d) for d in input_shape)
        self.opset = opset
        self.batch = batch
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self._k = itertools.count()
        self.input = "x"

    def name(self, base: str) -> str:
        return f"{base}_{next(self._k)}"

    def const(self, array, base: str = "c") -> str:
        """Add an initialiser and return its name."""
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def randn(self, *shape, scale: float = 1.0) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def op(self, op_type: str, inputs, n_outputs: int = 1, name: str | None = None, **attrs):
        """Add a node; returns its output name (or a list of names if ``n_outputs`` > 1)."""
        name = name or self.name(op_type.lower())
        outputs = [f"{name}_out{i}" for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=name, **attrs))
        return outputs[0] if n_outputs == 1 else outputs

    def model(self, output: str) -> onnx.ModelProto:
        """The model whose single output is tensor ``output``."""
        x_info = helper.make_tensor_value_info(self.input, TensorProto.FLOAT, (self.batch,) + self.input_shape)
        # the checker wants a shape on the output: take it from ONNX's shape inference
        y_info = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "test", [x_info], [y_info], initializer=self.inits)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="eventsim-tests"
        )
        model.ir_version = ir_version_for(self.opset)
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
            known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
            shape = known[output].type.tensor_type.shape if known[output].type.tensor_type.HasField("shape") else None
        except Exception:  # noqa: BLE001  (refusal tests build models that inference may not follow)
            shape = None
        dims = (
            [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim] if shape else ["?"]
        )
        model.graph.output[0].CopyFrom(helper.make_tensor_value_info(output, TensorProto.FLOAT, dims))
        return model

    # -- common layers --------------------------------------------------------------------------
    def conv(self, x: str, c_in: int, c_out: int, k=(3, 3), group: int = 1, bias: bool = True, **attrs) -> str:
        w = self.const(self.randn(c_out, c_in // group, *k, scale=1.0 / np.sqrt(c_in // group * k[0] * k[1])), "W")
        inputs = [x, w] + ([self.const(self.randn(c_out, scale=0.5), "b")] if bias else [])
        return self.op("Conv", inputs, group=group, **attrs) if group != 1 else self.op("Conv", inputs, **attrs)

    def batchnorm(self, x: str, c: int, epsilon: float | None = None) -> str:
        gamma = self.rng.uniform(0.5, 2.0, c).astype(np.float32)
        beta = self.randn(c, scale=0.5)
        mean = self.randn(c, scale=0.5)
        var = self.rng.uniform(0.2, 3.0, c).astype(np.float32)
        inputs = [x] + [self.const(a, n) for a, n in ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var"))]
        return self.op("BatchNormalization", inputs, **({} if epsilon is None else {"epsilon": epsilon}))

    def axes(self, op_type: str, x: str, axes, **attrs) -> str:
        """Squeeze/Unsqueeze/ReduceX with ``axes`` as attribute (opset < 13) or input (13+)."""
        if self.opset < 13:
            return self.op(op_type, [x], axes=list(axes), **attrs)
        return self.op(op_type, [x, self.const(np.asarray(axes, np.int64), "axes")], **attrs)


def run_ort(model: onnx.ModelProto, x: np.ndarray, output: str | None = None) -> np.ndarray:
    """The value of ``output`` (default: the graph output) computed by onnxruntime on ``x``."""
    if output is not None and output != model.graph.output[0].name:
        model = onnx.ModelProto.FromString(model.SerializeToString())
        del model.graph.output[:]
        model.graph.output.append(helper.make_empty_tensor_value_info(output))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # the plain kernels are the oracle: onnxruntime's fusions have bugs of their own (its Pad →
    # AveragePool fusion, for one, builds a pool whose pads exceed the kernel and fails)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def max_error(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(max |actual - expected|, tolerance)."""
    assert actual.shape == expected.shape, f"eventsim shape {actual.shape} != onnxruntime shape {expected.shape}"
    tol = RTOL * max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    return float(np.max(np.abs(actual.astype(np.float64) - expected.astype(np.float64)))), tol


def check_agrees(
    model: onnx.ModelProto,
    x: np.ndarray,
    input_shape=None,
    reference: onnx.ModelProto | None = None,
    graph: eventsim.Graph | None = None,
) -> eventsim.Graph:
    """Import ``model`` into eventsim, run it and onnxruntime (on ``reference`` if given) on ``x``,
    and assert agreement; returns the eventsim graph."""
    expected = run_ort(reference if reference is not None else model, x)
    graph = graph if graph is not None else eventsim.load_onnx(model, input_shape)
    actual = eventsim.run_ann(graph, x)
    err, tol = max_error(actual, expected)
    assert err <= tol, f"max|eventsim - onnxruntime| = {err:.3g} > {tol:.3g}\n{graph.summary()}"
    return graph


def data(shape, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def ops_of(graph: eventsim.Graph) -> list[str]:
    return [n.op for n in graph.nodes]
