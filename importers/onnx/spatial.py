"""Window geometry shared by the handlers of Conv, MaxPool and AveragePool.

eventsim's window ops are 2-D (C, H, W). A 1-D op on (C, L) is imported as the 2-D op on
(C, 1, L) between two reshapes; 3-D ops are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import onnx

from eventsim.errors import UnsupportedError

from .context import ImportContext, Value, describe


@dataclass(frozen=True)
class Window:
    """Resolved 2-D geometry of a window op; ``one_d`` if the ONNX op was 1-D."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    one_d: bool

    def attrs(self) -> dict:
        return {"kernel": self.kernel, "stride": self.stride, "pads": self.pads, "dilation": self.dilation}


def window_input(ctx: ImportContext, node: onnx.NodeProto, x: Value) -> tuple[Value, bool]:
    """The data input as a standard-layout (C, H, W) value, and whether the op is 1-D."""
    x = ctx.standard_layout(x, node)
    shape = ctx.shape(x)
    if len(shape) == 2:
        return ctx.reshape(x, (shape[0], 1, shape[1]), node, source=None), True
    if len(shape) != 3:
        raise UnsupportedError(
            f"{describe(node)}: input has shape (N, {', '.join(map(str, shape))}); eventsim supports "
            "1-D (N x C x L) and 2-D (N x C x H x W) window ops",
            "3-D convolution and pooling are not supported",
        )
    return x, False


def window_output(ctx: ImportContext, node: onnx.NodeProto, out: Value, window: Window) -> Value:
    """Undo the 1-D lifting of :func:`window_input` on the op's output."""
    if not window.one_d:
        return out
    c, _, length = ctx.shape(out)
    return ctx.reshape(out, (c, length), node, source=node.output[0])


def _per_axis(node: onnx.NodeProto, name: str, values, default: int, one_d: bool) -> tuple[int, int]:
    rank = 1 if one_d else 2
    if values is None:
        return (1 if one_d else default, default)
    values = tuple(int(v) for v in values)
    if len(values) != rank:
        raise UnsupportedError(f"{describe(node)}: {name}={list(values)} does not fit a {rank}-D input")
    return (1,) + values if one_d else values  # type: ignore[return-value]


def resolve_window(node: onnx.NodeProto, attrs: dict, hw: tuple[int, int], kernel, one_d: bool) -> Window:
    """Kernel, strides, dilations and explicit pads (from ``pads`` or ``auto_pad``) in 2-D form."""
    kernel = _per_axis(node, "kernel_shape", kernel, 1, one_d)
    stride = _per_axis(node, "strides", attrs.get("strides"), 1, one_d)
    dilation = _per_axis(node, "dilations", attrs.get("dilations"), 1, one_d)
    auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = attrs.get("pads")
        if pads is None:
            pads = (0, 0, 0, 0)
        else:
            pads = tuple(int(p) for p in pads)
            if len(pads) != (2 if one_d else 4):
                raise UnsupportedError(f"{describe(node)}: pads={list(pads)} does not fit the input's rank")
            if one_d:
                pads = (0, pads[0], 0, pads[1])
            # ONNX order x1_begin, x2_begin, x1_end, x2_end is top, left, bottom, right
        if min(pads) < 0:
            raise UnsupportedError(f"{describe(node)}: negative pads {list(pads)} (cropping) are not supported")
    elif auto == "VALID":
        pads = (0, 0, 0, 0)
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(hw, kernel, stride, dilation):
            out = math.ceil(size / s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        pads = (begin[0], begin[1], end[0], end[1])
    else:
        raise UnsupportedError(f"{describe(node)}: auto_pad={auto!r} is not supported")
    return Window(kernel, stride, dilation, pads, one_d)
