"""Reading an ONNX file and turning it into a canonical :class:`~eventsim.ir.graph.Graph`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from eventsim.errors import ModelFileError, ShapeError, UnsupportedError
from eventsim.io import file_sha256
from eventsim.ir.graph import Graph
from eventsim.passes import canonicalize

from . import ops_elementwise, ops_linear, ops_pool, ops_shape  # noqa: F401  (register the handlers)
from .context import ImportContext, describe
from .fold import fold_node
from .registry import HANDLERS, supported_ops

_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}
#: The oldest default-domain opset eventsim reads: ONNX's own operator cases from opset 6 on pass
#: (tests/importers/test_onnx_cases.py); before it, ops carried attributes whose meaning eventsim does
#: not implement (consumed_inputs, broadcast flags), and onnxruntime runs none of them.
MIN_OPSET = 6


def read_model(source: str | Path | onnx.ModelProto) -> onnx.ModelProto:
    """Load and check an ONNX model (with its external data), or raise :class:`ModelFileError`."""
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ModelFileError(f"model file {str(path)!r} does not exist", "check the path")
        try:
            model = onnx.load(str(path))
        except DecodeError as exc:
            raise ModelFileError(
                f"{str(path)!r} is not a valid ONNX file (it could not be decoded: {exc})",
                "check that the file is a complete .onnx model, not truncated or of another format",
            ) from None
        except (FileNotFoundError, OSError) as exc:
            raise ModelFileError(
                f"cannot read {str(path)!r} or its external weight data: {exc}",
                "keep the .onnx file and its external data file (e.g. model.onnx.data) side by side",
            ) from None
        except Exception as exc:  # onnx raises assorted errors for damaged files
            raise ModelFileError(
                f"cannot load {str(path)!r} as ONNX: {type(exc).__name__}: {exc}", "re-export the model"
            ) from None
    if not model.graph.node or not model.graph.output:
        raise ModelFileError(
            "the ONNX model has no nodes or no outputs (is the file empty or truncated?)", "re-export the model"
        )
    _check_opset(model)
    _check_value_info(model)
    initializers = {t.name for t in model.graph.initializer}
    for info in model.graph.input:
        if info.name not in initializers:
            _check_input_type(info)
    try:
        # full_check: also ONNX's strict type and shape inference, so that weights of the wrong
        # element type (bool, int), inputs an op cannot take, and value_info or output shapes that
        # contradict what the graph computes are refused here rather than imported as garbage
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx.checker.ValidationError, InferenceError and friends
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        where = next((line.split("node.", 1)[-1].strip() for line in lines if "Bad node spec" in line), None)
        problem = lines[0] if lines else type(exc).__name__
        # ONNX's inference finding shapes that do not fit is a ShapeError, anything else (types,
        # attributes, structure) a malformed file
        typing = any(k in problem for k in ("TypeInferenceError", "typestr", "elem type", "inconsistent type"))
        shapes = "ShapeInferenceError" in problem and not typing
        raise (ShapeError if shapes else ModelFileError)(
            f"the ONNX model is malformed: {problem}" + (f" (node {where})" if where else ""),
            "re-export the model, or repair it with onnx tools",
        ) from None
    return model


def _check_value_info(model: onnx.ModelProto) -> None:
    """Refuse a value_info entry that contradicts the declared type of a graph input or output of the
    same name (ONNX's checker lets the declaration win silently)."""
    declared = {v.name: v for v in list(model.graph.input) + list(model.graph.output)}
    for info in model.graph.value_info:
        if info.name in declared and info.type != declared[info.name].type:
            raise ModelFileError(
                f"the ONNX model is malformed: value_info of {info.name!r} gives it another type or shape than the "
                "graph's own input/output declaration",
                "re-export the model, or remove the stale value_info entries (onnx.shape_inference re-creates them)",
            )


def _check_opset(model: onnx.ModelProto) -> None:
    """Refuse a default-domain opset older than :data:`MIN_OPSET` or newer than the installed onnx knows."""
    newest = onnx.defs.onnx_opset_version()
    opset = default_opset(model)
    if opset < MIN_OPSET:
        raise UnsupportedError(
            f"the ONNX model uses opset {opset}; eventsim reads opsets {MIN_OPSET} to {newest}",
            "convert it: onnx.version_converter.convert_version(onnx.load(path), 13), or export again with "
            "a recent opset",
        )
    if opset > newest:
        raise UnsupportedError(
            f"the ONNX model uses opset {opset}, newer than the {newest} the installed onnx package knows",
            "export with a released opset (e.g. 17), or update onnx and onnxruntime",
        )


def default_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ModelFileError(
        "the ONNX model imports no version of the default operator set", "re-export the model (opset_import is empty)"
    )


def _input_shape(info: onnx.ValueInfoProto, input_shape: tuple[int, ...] | None) -> tuple[tuple[int, ...], int | None]:
    """Per-sample input shape and the static batch size (None if dynamic)."""
    _check_input_type(info)
    tensor = info.type.tensor_type
    sized = [d.dim_value for d in tensor.shape.dim if d.HasField("dim_value")]
    if any(d <= 0 for d in sized):
        raise ShapeError(
            f"model input {info.name!r} has shape [{', '.join(_dim_text(d) for d in tensor.shape.dim)}], "
            "with a dimension of size 0 or less",
            "export the model with the real input shape (a dynamic batch axis is fine)",
        )
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if not tensor.HasField("shape") and input_shape is None:
        raise ShapeError(
            f"model input {info.name!r} has no shape", "give the per-sample shape with --input-shape C,H,W"
        )
    if tensor.HasField("shape") and len(dims) < 2:
        raise ShapeError(
            f"model input {info.name!r} has shape {dims}: eventsim needs a batch axis and the sample axes",
            "export the model with an input of shape (N, features) or (N, C, H, W)",
        )
    static_batch = dims[0] if dims else None
    sample = dims[1:]
    if input_shape is not None:
        input_shape = tuple(int(d) for d in input_shape)
        if tensor.HasField("shape") and (
            len(input_shape) != len(sample) or any(s is not None and s != d for s, d in zip(sample, input_shape))
        ):
            raise ShapeError(
                f"--input-shape {list(input_shape)} does not fit model input {info.name!r} of shape "
                f"[N, {', '.join('?' if d is None else str(d) for d in sample)}]"
            )
        if min(input_shape) < 1:
            raise ShapeError(
                f"--input-shape {list(input_shape)} must be positive", "give the sample's axis sizes, e.g. 3,32,32"
            )
        return input_shape, static_batch
    if any(d is None for d in sample):
        names = [d.dim_param or "?" for d in tensor.shape.dim[1:]]
        raise ShapeError(
            f"model input {info.name!r} has dynamic dimensions [N, {', '.join(names)}]",
            "give the per-sample shape, e.g. --input-shape 3,32,32 (input_shape=(3, 32, 32) in Python)",
        )
    return tuple(sample), static_batch


def _check_input_type(info: onnx.ValueInfoProto) -> None:
    tensor = info.type.tensor_type
    if not info.type.HasField("tensor_type") or tensor.elem_type not in _FLOAT_TYPES:
        kind = onnx.TensorProto.DataType.Name(tensor.elem_type) if info.type.HasField("tensor_type") else "no tensor"
        raise UnsupportedError(
            f"model input {info.name!r} is of type {kind}, not a float32, float64 or float16 tensor",
            "export the model with a float32 input (images or feature vectors)",
        )


def _dim_text(dim) -> str:
    return str(dim.dim_value) if dim.HasField("dim_value") else (dim.dim_param or "?")


def _check_initializer(name: str, array: np.ndarray) -> None:
    """Refuse NaN in a weight, and infinities in any weight but a single bound (a Clip's may be ±inf)."""
    if array.dtype.kind != "f" or (array.size == 1 and not np.isnan(array).any()):
        return
    finite = np.isfinite(array)
    if not finite.all():
        raise ModelFileError(
            f"the weights {name!r} (shape {array.shape}) hold {int(array.size - np.count_nonzero(finite))} NaN or "
            "infinite values",
            "the model file is damaged (or its training diverged): re-export a trained model",
        )


def _check_output_finite(graph: Graph) -> None:
    """Refuse a network whose output overflows on an input of ones: its weights are out of float32's
    range for any data (a damaged file), though each of them is finite."""
    from eventsim.ir import run_ann

    with np.errstate(all="ignore"):
        out = run_ann(graph, np.ones((1,) + tuple(graph.input_shape), np.float32))
    if not np.all(np.isfinite(out)):
        largest = max((float(np.abs(p).max()) for n in graph.nodes for p in n.params.values() if np.size(p)), default=0)
        raise ModelFileError(
            "the model's output is not finite on an input of ones: its weights overflow float32 "
            f"(largest |weight| {largest:.3g})",
            "the model file is damaged: re-export a trained model",
        )


def _check_finite(graph: Graph) -> None:
    """Refuse weights with NaN or infinite values (a damaged file or a diverged training run)."""
    for node in graph.nodes:
        for key, param in node.params.items():
            param = np.asarray(param)
            if param.dtype.kind == "f" and not np.all(np.isfinite(param)):
                bad = int(param.size - np.count_nonzero(np.isfinite(param)))
                raise ModelFileError(
                    f"the weights of layer {node.source or node.name!r} ({node.op} {key}) hold {bad} NaN or "
                    "infinite values",
                    "the model's weights are damaged (or its training diverged): re-export a trained model",
                )


def load_onnx(source: str | Path | onnx.ModelProto, input_shape: tuple[int, ...] | None = None) -> Graph:
    """Import an ONNX model as a canonical eventsim graph.

    Parameters
    ----------
    source : str, Path or onnx.ModelProto
        The ``.onnx`` file (external weight data next to it is loaded too) or a loaded model.
    input_shape : tuple of int, optional
        Per-sample input shape (no batch axis), needed when the model's input has dynamic
        dimensions other than the batch.

    Returns
    -------
    Graph
        The network in canonical ops, BatchNorm folded, input normalisation in the input node.

    Raises
    ------
    ModelFileError, UnsupportedError, ShapeError
        With a message naming the file, node, op or attribute and what to do.
    """
    model = read_model(source)
    opset = default_opset(model)
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UnsupportedError(
            f"the model has {len(inputs)} data inputs ({[i.name for i in inputs]}); eventsim takes one",
            "export a model with a single input tensor",
        )
    if len(graph.output) != 1:
        raise UnsupportedError(
            f"the model has {len(graph.output)} outputs ({[o.name for o in graph.output]}); eventsim takes one",
            "export a model with a single output tensor",
        )
    sample_shape, static_batch = _input_shape(inputs[0], input_shape)
    used = {name for node in graph.node for name in node.input if name} | {graph.output[0].name}
    ctx = ImportContext(opset, used, {graph.output[0].name}, static_batch, list(model.opset_import), model.ir_version)
    for name, tensor in initializers.items():
        try:
            array = numpy_helper.to_array(tensor)
        except Exception as exc:
            raise ModelFileError(
                f"cannot read the weights {name!r}: {exc}", "keep the external data file next to the .onnx file"
            ) from None
        _check_initializer(name, array)
        ctx.set_const(name, array)
    rank = len(sample_shape)
    ctx.set(
        inputs[0].name,
        ctx.emit(
            "input",
            [],
            {"source_shape": sample_shape, "perm": tuple(range(rank))},
            {"scale": np.ones((), np.float32), "shift": np.zeros((), np.float32)},
            source=inputs[0].name,
        ),
    )
    for node in graph.node:
        _convert_node(ctx, node, list(model.opset_import), model.ir_version)
    return _finish(ctx, graph, model, source)


def _convert_node(ctx: ImportContext, node: onnx.NodeProto, opsets, ir_version: int) -> None:
    if node.domain not in ("", "ai.onnx"):
        raise UnsupportedError(
            f"{describe(node)}: ops of domain {node.domain!r} are not supported", "export with standard ONNX ops only"
        )
    present = [n for n in node.input if n]
    missing = [n for n in present if n not in ctx.consts and n not in ctx.values]
    if missing:
        raise ModelFileError(
            f"{describe(node)} reads {missing}, which no earlier node produces",
            "the graph must be in topological order; re-export the model",
        )
    if all(n in ctx.consts for n in present) and node.op_type != "Shape":
        outputs = fold_node(node, [ctx.consts.get(n) if n else None for n in node.input], opsets, ir_version)
        for name, array in zip(node.output, outputs):
            if name:
                ctx.set_const(name, array)
        return
    if node.op_type not in HANDLERS:
        raise UnsupportedError(
            f"{describe(node)}: ONNX op {node.op_type!r} is not supported on data",
            f"eventsim converts CNNs and MLPs built from: {', '.join(supported_ops())}; "
            "replace the op in the model (e.g. Sigmoid/Tanh/GELU by ReLU) and retrain or fine-tune",
        )
    try:
        HANDLERS[node.op_type](ctx, node)
    except (ValueError, IndexError) as exc:  # NumPy's word on constants that do not fit together
        raise ShapeError(
            f"{describe(node)}: its inputs and attributes do not fit together ({type(exc).__name__}: {exc})",
            "re-export the model; the node's weights or attributes are inconsistent with its input",
        ) from None
    for i, name in enumerate(node.output):
        if name and name in ctx.used and name not in ctx.values and name not in ctx.consts:
            raise UnsupportedError(
                f"{describe(node)}: output {i} ({name!r}) is used but not supported",
                "export the model so that only the op's first output is used",
            )


def _finish(ctx: ImportContext, graph: onnx.GraphProto, model: onnx.ModelProto, source) -> Graph:
    out_name = graph.output[0].name
    if out_name not in ctx.values:
        raise UnsupportedError(
            f"the model output {out_name!r} does not depend on the input",
            "export the model with its output computed from its input (a constant output is no network)",
        )
    out = ctx.values[out_name]
    if not out.standard:
        raise UnsupportedError(
            f"the model output {out_name!r} is a transposed or reordered view of a layer",
            "end the model with the layer itself (e.g. no Transpose/Flatten after the last layer)",
        )
    from_file = not isinstance(source, onnx.ModelProto)
    meta = {
        "source": str(source) if from_file else "<ModelProto>",
        # networks converted from this graph record the file they came from (see eventsim.convert)
        "source_sha256": file_sha256(source) if from_file else None,
        "format": "onnx",
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opset": ctx.opset,
        "ir_version": int(model.ir_version),
        "onnx_input": ctx.nodes[0].source,
        "onnx_output": out_name,
        "static_batch": ctx.static_batch,
        "dropped_output_op": ctx.dropped_output_op,
    }
    graph = canonicalize(Graph(ctx.nodes, out.node, ctx.notes, meta))
    _check_finite(graph)
    _check_output_finite(graph)
    return graph
