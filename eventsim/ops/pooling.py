"""Pooling ops: ``avgpool`` (global average pooling is an avgpool) and ``maxpool``."""

from __future__ import annotations

import numpy as np

from .registry import OpSpec, register_op, require
from .windows import spatial_output_shape, window_reduce, windows_without_data


def _pool_shape(node, in_shapes):
    (shape,) = in_shapes
    require(len(shape) == 3, node, f"input must be (C, H, W), got {shape}")
    a = node.attrs
    require(
        min(a["kernel"]) >= 1 and min(a["stride"]) >= 1 and min(a["dilation"]) >= 1,
        node,
        "kernel, stride and dilation must be >= 1",
    )
    require(min(a["pads"]) >= 0, node, "pads must be >= 0")
    ho, wo = spatial_output_shape(shape[1:], a["kernel"], a["stride"], a["pads"], a["dilation"], a["ceil_mode"])
    require(ho >= 1 and wo >= 1, node, f"kernel {a['kernel']} does not fit the padded input {shape}")
    if not a.get("count_include_pad", False):  # padded zeros that count give such windows the value 0
        empty = [
            windows_without_data(size, k, s, p, d, out)
            for size, k, s, p, d, out in zip(
                shape[1:], a["kernel"], a["stride"], a["pads"][:2], a["dilation"], (ho, wo)
            )
        ]
        require(
            not any(empty),
            node,
            f"with pads {a['pads']}, dilation {a['dilation']} and stride {a['stride']} some windows "
            "cover only padding and have no defined value",
            "use smaller pads",
        )
    return (shape[0], ho, wo)


def _reduce(node, x, fill, ufunc):
    a = node.attrs
    out_hw = spatial_output_shape(x.shape[2:], a["kernel"], a["stride"], a["pads"], a["dilation"], a["ceil_mode"])
    return window_reduce(x, a["kernel"], a["stride"], a["pads"], a["dilation"], out_hw, fill, ufunc)


def avgpool_divisor(node, hw: tuple[int, int]) -> np.ndarray:
    """The count each average-pooling window's sum is divided by, (Ho, Wo), float32.

    With ``count_include_pad`` padded zeros count, window parts that ceil mode pushes past the
    padding do not; without it only input elements count.
    """
    a = node.attrs
    out_hw = spatial_output_shape(hw, a["kernel"], a["stride"], a["pads"], a["dilation"], a["ceil_mode"])
    if a["count_include_pad"]:
        pads = a["pads"]
        mask = np.ones((1, 1, hw[0] + pads[0] + pads[2], hw[1] + pads[1] + pads[3]), np.float32)
        count = window_reduce(mask, a["kernel"], a["stride"], (0, 0, 0, 0), a["dilation"], out_hw, 0.0, np.add)
    else:
        count = _reduce(node, np.ones((1, 1) + tuple(hw), np.float32), 0.0, np.add)
    return count[0, 0]


@register_op
class AvgPool(OpSpec):
    """Average pooling. Attrs ``kernel``, ``stride``, ``pads`` (t, l, b, r), ``dilation``,
    ``ceil_mode``, ``count_include_pad`` (whether padded zeros count in the divisor; the divisor
    never counts window parts beyond the padded input, which ceil mode can create)."""

    name = "avgpool"
    quiet = {"pads": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False}

    def infer_shape(self, node, in_shapes):
        return _pool_shape(node, in_shapes)

    def forward(self, node, xs):
        (x,) = xs
        return _reduce(node, x, 0.0, np.add) / avgpool_divisor(node, x.shape[2:])

    def macs(self, node, in_shapes):
        return 0


@register_op
class MaxPool(OpSpec):
    """Max pooling (padding never wins). Attrs ``kernel``, ``stride``, ``pads`` (t, l, b, r),
    ``dilation``, ``ceil_mode``. On spikes it acts on cumulative counts (DESIGN.md)."""

    name = "maxpool"
    quiet = {"pads": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False}

    def infer_shape(self, node, in_shapes):
        return _pool_shape(node, in_shapes)

    def forward(self, node, xs):
        return _reduce(node, xs[0], -np.inf, np.maximum)
