"""Helpers shared by the handlers of window ops (Conv, MaxPool, AveragePool)."""

from __future__ import annotations

import math

import onnx

from eventsim.errors import UnsupportedError

from .context import describe


def two_d(node: onnx.NodeProto, name: str, values, default: int) -> tuple[int, int]:
    """A 2-D attribute (kernel, strides, dilations), refusing 1-D and 3-D forms."""
    if values is None:
        return (default, default)
    values = tuple(int(v) for v in values)
    if len(values) != 2:
        raise UnsupportedError(
            f"{describe(node)}: {name}={list(values)} describes a {len(values)}-D operation; eventsim supports 2-D (NCHW)",
            "use 2-D convolutions/pooling (a 1-D signal can be given as N x C x 1 x L)",
        )
    return values  # type: ignore[return-value]


def resolve_pads(node: onnx.NodeProto, attrs: dict, hw: tuple[int, int], kernel: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """Explicit (top, left, bottom, right) pads from ``pads`` or ``auto_pad``."""
    auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = attrs.get("pads")
        if pads is None:
            return (0, 0, 0, 0)
        if len(pads) != 4:
            raise UnsupportedError(f"{describe(node)}: pads={list(pads)} is not 2-D (4 values)")
        if min(pads) < 0:
            raise UnsupportedError(f"{describe(node)}: negative pads {list(pads)} (cropping) are not supported")
        return tuple(int(p) for p in pads)  # ONNX order x1_begin, x2_begin, x1_end, x2_end = t, l, b, r
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise UnsupportedError(f"{describe(node)}: auto_pad={auto!r} is not supported")
    begin, end = [], []
    for size, k, s, d in zip(hw, kernel, stride, dilation):
        out = math.ceil(size / s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return (begin[0], begin[1], end[0], end[1])


def require_4d(ctx, value, node: onnx.NodeProto):
    """The input as a standard-layout (C, H, W) value."""
    value = ctx.standard_layout(value, node)
    shape = ctx.shape(value)
    if len(shape) != 3:
        raise UnsupportedError(
            f"{describe(node)}: input has shape (N, {', '.join(map(str, shape))}); eventsim supports 2-D ops on N x C x H x W",
            "reshape 1-D signals to N x C x 1 x L before the model's first convolution",
        )
    return value
