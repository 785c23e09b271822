"""Handlers of pooling ops: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""

from __future__ import annotations

from eventsim.errors import UnsupportedError

from .context import ImportContext, describe
from .registry import handler
from .spatial import require_4d, resolve_pads, two_d


def _pool(ctx: ImportContext, node, op: str, allowed: dict) -> None:
    a = ctx.attrs(node, {"auto_pad": "NOTSET", "ceil_mode": 0, "dilations": None, "kernel_shape": None,
                         "pads": None, "strides": None, **allowed})
    if a["kernel_shape"] is None:
        raise UnsupportedError(f"{describe(node)}: kernel_shape is required")
    kernel = two_d(node, "kernel_shape", a["kernel_shape"], 1)
    x = require_4d(ctx, ctx.value(node, 0), node)
    stride = two_d(node, "strides", a["strides"], 1)
    dilation = two_d(node, "dilations", a["dilations"], 1)
    pads = resolve_pads(node, a, ctx.shape(x)[1:], kernel, stride, dilation)
    attrs = {"kernel": kernel, "stride": stride, "pads": pads, "dilation": dilation, "ceil_mode": bool(a["ceil_mode"])}
    if op == "avgpool":
        attrs["count_include_pad"] = bool(a["count_include_pad"])
    ctx.set(node.output[0], ctx.emit(op, [x], attrs, source=node.output[0]))


@handler("MaxPool")
def maxpool(ctx: ImportContext, node) -> None:
    if ctx.output_used(node, 1):
        raise UnsupportedError(f"{describe(node)}: the Indices output of MaxPool is not supported",
                               "use only the pooled values")
    _pool(ctx, node, "maxpool", {"storage_order": 0})


@handler("AveragePool")
def avgpool(ctx: ImportContext, node) -> None:
    _pool(ctx, node, "avgpool", {"count_include_pad": 0})


@handler("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    x = require_4d(ctx, ctx.value(node, 0), node)
    _, h, w = ctx.shape(x)
    attrs = {"kernel": (h, w), "stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False}
    if node.op_type == "GlobalAveragePool":
        ctx.set(node.output[0], ctx.emit("avgpool", [x], dict(attrs, count_include_pad=False), source=node.output[0]))
    else:
        ctx.set(node.output[0], ctx.emit("maxpool", [x], attrs, source=node.output[0]))
