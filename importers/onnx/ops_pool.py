"""Handlers of pooling ops: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""

from __future__ import annotations

from eventsim.errors import ModelFileError, UnsupportedError

from .context import ImportContext, describe
from .registry import handler
from .spatial import Window, resolve_window, window_input, window_output


def _pool(ctx: ImportContext, node, op: str, allowed: dict) -> None:
    a = ctx.attrs(
        node,
        {
            "auto_pad": "NOTSET",
            "ceil_mode": 0,
            "dilations": None,
            "kernel_shape": None,
            "pads": None,
            "strides": None,
            **allowed,
        },
    )
    if a["kernel_shape"] is None:
        raise ModelFileError(
            f"{describe(node)}: kernel_shape is required", "re-export the model; a pooling node needs its window"
        )
    x, one_d = window_input(ctx, node, ctx.value(node, 0))
    window = resolve_window(node, a, ctx.shape(x)[1:], a["kernel_shape"], one_d)
    attrs = dict(window.attrs(), ceil_mode=bool(a["ceil_mode"]))
    if op == "avgpool":
        attrs["count_include_pad"] = bool(a["count_include_pad"])
    out = ctx.emit(op, [x], attrs, source=None if one_d else node.output[0])
    ctx.set(node.output[0], window_output(ctx, node, out, window))


@handler("MaxPool")
def maxpool(ctx: ImportContext, node) -> None:
    if ctx.output_used(node, 1):
        raise UnsupportedError(
            f"{describe(node)}: the Indices output of MaxPool is not supported", "use only the pooled values"
        )
    _pool(ctx, node, "maxpool", {"storage_order": 0})


@handler("AveragePool")
def avgpool(ctx: ImportContext, node) -> None:
    _pool(ctx, node, "avgpool", {"count_include_pad": 0})


@handler("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: ImportContext, node) -> None:
    ctx.attrs(node, {})
    x, one_d = window_input(ctx, node, ctx.value(node, 0))
    _, h, w = ctx.shape(x)
    window = Window((h, w), (1, 1), (1, 1), (0, 0, 0, 0), one_d)
    attrs = dict(window.attrs(), ceil_mode=False)
    source = None if one_d else node.output[0]
    if node.op_type == "GlobalAveragePool":
        out = ctx.emit("avgpool", [x], dict(attrs, count_include_pad=False), source=source)
    else:
        out = ctx.emit("maxpool", [x], attrs, source=source)
    ctx.set(node.output[0], window_output(ctx, node, out, window))
