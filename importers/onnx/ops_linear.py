"""Handlers of weighted ONNX ops: Conv, Gemm, MatMul, BatchNormalization."""

from __future__ import annotations

import numpy as np

from eventsim.errors import ShapeError, UnsupportedError

from .context import ImportContext, Value, describe
from .registry import handler
from .spatial import resolve_window, window_input, window_output


@handler("Conv")
def conv(ctx: ImportContext, node) -> None:
    a = ctx.attrs(
        node, {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None, "strides": None}
    )
    x, one_d = window_input(ctx, node, ctx.value(node, 0))
    w = ctx.const(node, 1, "the weight")
    if w.ndim != (3 if one_d else 4):
        raise UnsupportedError(
            f"{describe(node)}: weight of shape {w.shape} does not fit the input "
            f"(N, {', '.join(map(str, ctx.shape(x)))})",
            "re-export the model; a Conv's weight is (C_out, C_in / group, kH, kW) for a (N, C, H, W) input",
        )
    group, channels = a["group"], ctx.shape(x)[0]
    if not (isinstance(group, int) and group >= 1 and channels % group == 0 and w.shape[0] % group == 0):
        raise ShapeError(
            f"{describe(node)}: group={group} must be >= 1 and divide the input's {channels} and the weight's "
            f"{w.shape[0]} output channels",
            "re-export the model; group splits the channels into equal parts (group = C_in for depthwise)",
        )
    if w.shape[1] * group != channels:
        raise ShapeError(
            f"{describe(node)}: weight of shape {w.shape} with group={group} takes {w.shape[1] * group} input "
            f"channels, but the input has {channels}",
            "re-export the model; a Conv's weight is (C_out, C_in / group, kH, kW)",
        )
    if one_d:
        w = w[:, :, None, :]
    kernel = tuple(int(k) for k in w.shape[2:])
    if a["kernel_shape"] is not None and tuple(a["kernel_shape"]) != kernel[-len(a["kernel_shape"]) :]:
        raise ShapeError(
            f"{describe(node)}: kernel_shape={list(a['kernel_shape'])} disagrees with the weight {w.shape}",
            "re-export the model; kernel_shape must be the weight's spatial shape (or left out)",
        )
    window = resolve_window(node, a, ctx.shape(x)[1:], kernel[1:] if one_d else kernel, one_d)
    b = ctx.const(node, 2, "the bias")
    b = np.zeros(w.shape[0], np.float32) if b is None else b
    if np.shape(b) != (w.shape[0],):
        raise ShapeError(
            f"{describe(node)}: bias of shape {np.shape(b)} does not fit the weight's {w.shape[0]} output channels",
            "re-export the model; a Conv's bias holds one value per output channel",
        )
    out = ctx.emit(
        "conv",
        [x],
        {"stride": window.stride, "pads": window.pads, "dilation": window.dilation, "groups": int(a["group"])},
        {"W": w, "b": b},
        source=None if one_d else node.output[0],
    )
    ctx.set(node.output[0], window_output(ctx, node, out, window))


def _dense(ctx: ImportContext, node, x: Value, w_onnx: np.ndarray, bias: np.ndarray) -> None:
    """Emit ``y = W x + b`` where ``w_onnx`` (out, in) indexes the input as ONNX sees it."""
    shape = ctx.shape(x)
    if len(shape) != 1:
        raise UnsupportedError(
            f"{describe(node)}: input has per-sample shape {shape}; eventsim's dense layers take flat (N, F) inputs",
            "flatten the input before the matrix product",
        )
    if w_onnx.shape[1] != shape[0]:
        raise ShapeError(
            f"{describe(node)}: weight {w_onnx.shape} does not match input size {shape[0]}",
            "re-export the model: the weight must take as many inputs as the layer before gives",
        )
    if x.flat_order is not None:  # columns follow the graph's (channels-first) flattening order
        w = np.empty_like(w_onnx)
        w[:, x.flat_order] = w_onnx
        x = Value(x.node, (0,))
    else:
        w = w_onnx
    ctx.set(node.output[0], ctx.emit("dense", [x], {}, {"W": w, "b": bias}, source=node.output[0]))


@handler("Gemm")
def gemm(ctx: ImportContext, node) -> None:
    a = ctx.attrs(node, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0, "broadcast": 1})
    if a["transA"]:
        raise UnsupportedError(
            f"{describe(node)}: transA=1 would transpose the batch axis", "export the layer as x @ W (transA=0)"
        )
    x = ctx.value(node, 0)
    b_mat = ctx.const(node, 1, "the weight B").astype(np.float32)
    if b_mat.ndim != 2:
        raise ShapeError(
            f"{describe(node)}: weight B must be 2-D, got {b_mat.shape}", "re-export the model; Gemm's B is a matrix"
        )
    w = (b_mat if a["transB"] else b_mat.T) * np.float32(a["alpha"])
    features = ctx.shape(x)
    if len(features) == 1 and w.shape[1] != features[0]:
        trans = int(bool(a["transB"]))
        hint = (
            f"; with transB={1 - trans} it would fit (did the model lose transB?)" if w.shape[0] == features[0] else ""
        )
        raise ShapeError(
            f"{describe(node)}: weight B of shape {b_mat.shape} with transB={trans} takes {w.shape[1]} input features, "
            f"but its input has {features[0]}{hint}",
            "re-export the model; Gemm computes x @ B (transB=0, B of shape (in, out)) or x @ B.T (transB=1)",
        )
    c = ctx.const(node, 2, "the bias C")
    bias = np.zeros(w.shape[0], np.float32)
    if c is not None:
        c = np.asarray(c, np.float32) * np.float32(a["beta"])
        if c.ndim == 2 and c.shape[0] != 1:
            raise UnsupportedError(
                f"{describe(node)}: bias C of shape {c.shape} varies along the batch axis",
                "export the bias as one row (1, out) or a vector (out,), the same for every sample",
            )
        c = c.reshape(-1) if c.ndim == 2 else c
        if c.ndim > 1 or c.size not in (1, w.shape[0]):
            raise ShapeError(
                f"{describe(node)}: bias C of shape {c.shape} does not fit the layer's {w.shape[0]} outputs",
                "re-export the model; C must hold one value per output (or one for all)",
            )
        bias = bias + np.broadcast_to(c, bias.shape)
    _dense(ctx, node, x, w, bias)


@handler("MatMul")
def matmul(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    x = ctx.value(node, 0)
    b_mat = ctx.const(node, 1, "the weight (second operand)")
    if b_mat.ndim != 2:
        raise UnsupportedError(
            f"{describe(node)}: weight of shape {b_mat.shape} is not a 2-D matrix",
            "eventsim supports x @ W with a 2-D W (a dense layer)",
        )
    _dense(ctx, node, x, np.ascontiguousarray(b_mat.T), np.zeros(b_mat.shape[1], np.float32))


@handler("BatchNormalization")
def batchnorm(ctx: ImportContext, node) -> None:
    a = ctx.attrs(
        node,
        {"epsilon": 1e-5, "momentum": 0.9, "spatial": 1, "training_mode": 0, "is_test": 1, "consumed_inputs": None},
    )
    if a["training_mode"] or a["spatial"] != 1 or any(ctx.output_used(node, i) for i in (1, 2, 3, 4)):
        raise UnsupportedError(
            f"{describe(node)}: BatchNormalization in training mode (or spatial=0) is not supported",
            "export the model in eval mode",
        )
    x = ctx.value(node, 0)
    gamma, beta, mean, var = (
        ctx.const(node, i, n).astype(np.float64) for i, n in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var"))
    )
    channels = ctx.shape(x)[0] if ctx.shape(x) else 1
    for what, param in (("scale", gamma), ("bias", beta), ("mean", mean), ("var", var)):
        if param.shape != (channels,):
            raise ShapeError(
                f"{describe(node)}: its {what} has shape {param.shape}, but the input has {channels} channels",
                "re-export the model; BatchNormalization holds one scale, bias, mean and variance per channel",
            )
    scale = gamma / np.sqrt(var + a["epsilon"])
    shift = beta - mean * scale
    rank = len(ctx.shape(x))
    per_channel = (-1,) + (1,) * (rank - 1)
    s = ctx.const_for(scale.astype(np.float32).reshape((1,) + per_channel), x, node)
    t = ctx.const_for(shift.astype(np.float32).reshape((1,) + per_channel), x, node)
    ctx.set(
        node.output[0],
        ctx.emit("affine", [x], {}, {"scale": s, "shift": t}, source=node.output[0], perm=x.perm)
        if x.flat_order is None
        else _keep_order(ctx.emit("affine", [x], {}, {"scale": s, "shift": t}, source=node.output[0]), x),
    )


def _keep_order(out: Value, like: Value) -> Value:
    return Value(out.node, like.perm, like.flat_order)
