"""Handlers of element-wise ONNX ops: arithmetic with constants, residual Add, activations,
and the pass-through ops (Identity, Dropout, Cast, Softmax at the output)."""

from __future__ import annotations

import math

import numpy as np
import onnx

from eventsim.errors import UnsupportedError

from .context import ImportContext, Value, describe
from .registry import handler


def _same_layout(out: Value, like: Value) -> Value:
    return Value(out.node, like.perm, like.flat_order)


def _affine(ctx: ImportContext, node, x: Value, scale, shift) -> None:
    s = ctx.const_for(np.asarray(scale, np.float32), x, node)
    t = ctx.const_for(np.asarray(shift, np.float32), x, node)
    out = ctx.emit("affine", [x], {}, {"scale": s, "shift": t}, source=node.output[0])
    ctx.set(node.output[0], _same_layout(out, x))


def _scalar(node, c: np.ndarray | None, what: str, default: float) -> float:
    if c is None:
        return default
    c = np.asarray(c)
    if c.size != 1:
        raise UnsupportedError(
            f"{describe(node)}: {what} must be a single number, got shape {c.shape}",
            "use one bound for the whole layer",
        )
    return float(c.reshape(-1)[0])


@handler("Add", "Sub", "Mul", "Div")
def arithmetic(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {"broadcast": 0, "axis": None})
    a_name, b_name = node.input[0], node.input[1]
    a_const, b_const = ctx.is_const(a_name), ctx.is_const(b_name)
    op = node.op_type
    if not a_const and not b_const:
        a, b = ctx.value(node, 0), ctx.value(node, 1)
        if op in ("Mul", "Div"):
            raise UnsupportedError(
                f"{describe(node)}: {op} of two data tensors is not linear",
                "eventsim converts sums of activations (residual Add), not products",
            )
        if (
            ctx.shape(a) != ctx.shape(b)
            or a.perm != b.perm
            or (a.flat_order is None) != (b.flat_order is None)
            or (a.flat_order is not None and not np.array_equal(a.flat_order, b.flat_order))
        ):
            raise UnsupportedError(
                f"{describe(node)}: operands of shapes {ctx.shape(a)} and {ctx.shape(b)} (or layouts) differ",
                "residual additions need equal shapes (no broadcasting)",
            )
        if op == "Sub":
            neg = ctx.emit("affine", [b], {}, {"scale": np.float32(-1), "shift": np.float32(0)})
            b = _same_layout(neg, b)
        out = ctx.emit("add", [a, b], source=node.output[0])
        ctx.set(node.output[0], _same_layout(out, a))
        return
    x_index = 1 if a_const else 0
    x = ctx.value(node, x_index)
    c = np.asarray(ctx.consts[node.input[1 - x_index]], np.float32)
    if op == "Add":
        _affine(ctx, node, x, 1.0, c)
    elif op == "Mul":
        _affine(ctx, node, x, c, 0.0)
    elif op == "Sub":
        _affine(ctx, node, x, 1.0, -c) if x_index == 0 else _affine(ctx, node, x, -1.0, c)
    elif x_index == 0:  # Div by a constant
        if np.any(c == 0):
            raise UnsupportedError(f"{describe(node)}: division by a constant that contains zeros")
        _affine(ctx, node, x, np.float32(1) / c, 0.0)
    else:
        raise UnsupportedError(f"{describe(node)}: a constant divided by data is not linear")


@handler("Relu")
def relu(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    x = ctx.value(node, 0)
    ctx.set(node.output[0], _same_layout(ctx.emit("relu", [x], source=node.output[0]), x))


def _emit_clip(ctx: ImportContext, node, lo: float, hi: float) -> None:
    x = ctx.value(node, 0)
    out = ctx.emit("clip", [x], {"lo": lo, "hi": hi}, source=node.output[0])
    ctx.set(node.output[0], _same_layout(out, x))


@handler("Clip")
def clip(ctx: ImportContext, node) -> None:
    if ctx.opset < 11:  # bounds are attributes before opset 11
        a = ctx.attrs(node, {"min": -math.inf, "max": math.inf, "consumed_inputs": None})
        lo, hi = float(a["min"]), float(a["max"])
    else:
        ctx.attrs(node, {})
        lo = _scalar(node, ctx.const(node, 1, "the lower bound"), "the lower bound", -math.inf)
        hi = _scalar(node, ctx.const(node, 2, "the upper bound"), "the upper bound", math.inf)
    # float32's extremes are how some exporters write "no bound"
    lo = -math.inf if lo <= -3.4e38 else lo
    hi = math.inf if hi >= 3.4e38 else hi
    if lo > hi:  # ONNX: all outputs become max
        raise UnsupportedError(f"{describe(node)}: min {lo} > max {hi} makes the output constant")
    _emit_clip(ctx, node, lo, hi)


@handler("Min", "Max")
def min_max(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    if len(node.input) != 2 or sum(ctx.is_const(n) for n in node.input) != 1:
        raise UnsupportedError(
            f"{describe(node)}: only {node.op_type} of one data tensor and one constant is supported",
            "write the bound as Clip or as Relu followed by Min/Max with a constant",
        )
    c_index = 0 if ctx.is_const(node.input[0]) else 1
    bound = _scalar(node, ctx.consts[node.input[c_index]], "the constant", 0.0)
    x = ctx.value(node, 1 - c_index)
    out = ctx.emit(
        "clip",
        [x],
        {"lo": -math.inf, "hi": bound} if node.op_type == "Min" else {"lo": bound, "hi": math.inf},
        source=node.output[0],
    )
    ctx.set(node.output[0], _same_layout(out, x))


@handler("Floor")
def floor(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    x = ctx.value(node, 0)
    ctx.set(node.output[0], _same_layout(ctx.emit("floor", [x], source=node.output[0]), x))


@handler("Identity")
def identity(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    ctx.set(node.output[0], ctx.value(node, 0))


@handler("Dropout")
def dropout(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {"ratio": 0.5, "is_test": 1, "seed": 0, "consumed_inputs": None})
    training = ctx.const(node, 2, "training_mode") if len(node.input) > 2 else None
    if (training is not None and bool(np.asarray(training).reshape(-1)[0])) or ctx.output_used(node, 1):
        raise UnsupportedError(
            f"{describe(node)}: Dropout in training mode (or its mask output) is not supported",
            "export the model in eval mode",
        )
    ctx.set(node.output[0], ctx.value(node, 0))


@handler("Cast")
def cast(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"to": 1, "saturate": 1, "round_mode": "up"})
    if a["to"] not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):  # lossless for float32 data
        raise UnsupportedError(
            f"{describe(node)}: Cast of data to {onnx.TensorProto.DataType.Name(a['to'])} "
            "is not supported (eventsim computes in float32)",
            "remove the Cast from the model",
        )
    ctx.set(node.output[0], ctx.value(node, 0))


@handler("Softmax", "LogSoftmax")
def softmax(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"axis": -1 if ctx.opset >= 13 else 1})
    x = ctx.value(node, 0)
    rank = len(ctx.shape(x)) + 1
    if node.output[0] not in ctx.graph_outputs or rank != 2 or a["axis"] not in (1, -1):
        raise UnsupportedError(
            f"{describe(node)}: {node.op_type} is supported only at the output, over the classes",
            f"remove the {node.op_type} from the model or move it to the output",
        )
    ctx.set(node.output[0], x)
    ctx.dropped_output_op = node.op_type
    ctx.notes.append(
        f"{node.op_type} {node.name or node.output[0]!r} at the output was dropped: it does not change "
        f"the predicted class; the graph outputs the values before it ({node.input[0]!r})"
    )
