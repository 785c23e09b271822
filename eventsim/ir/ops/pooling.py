"""What the window pools (``avgpool``, ``maxpool``) share: shape rules, window reductions, fan-out
and their place in the event program."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, require
from .counting import ann_window
from .lowering import window_geometry
from .windows import spatial_output_shape, window_fanout, window_reduce, windows_without_data


class PoolOp(OpSpec):
    """Base of window pools. Attrs ``kernel``, ``stride``, ``pads`` (t, l, b, r), ``dilation``,
    ``ceil_mode``; each input element reaches every window that holds it."""

    quiet = {"pads": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False}

    def infer_shape(self, node, in_shapes):
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
            require(
                not self.has_padding_only_windows(node, shape),
                node,
                f"with pads {a['pads']}, dilation {a['dilation']} and stride {a['stride']} some windows "
                "cover only padding and have no defined value",
                "use smaller pads",
            )
        return (shape[0], ho, wo)

    def has_padding_only_windows(self, node, in_shape) -> bool:
        """Whether some window on an input of ``in_shape`` (C, H, W) covers only padding: a window is
        the product of its rows and columns, so it is empty when it is along one axis."""
        a = node.attrs
        out_hw = spatial_output_shape(in_shape[1:], a["kernel"], a["stride"], a["pads"], a["dilation"], a["ceil_mode"])
        axes = zip(in_shape[1:], a["kernel"], a["stride"], a["pads"][:2], a["dilation"], out_hw)
        return any(windows_without_data(size, k, s, p, d, out) > 0 for size, k, s, p, d, out in axes)

    def reduce(self, node, x: np.ndarray, fill: float, ufunc: np.ufunc) -> np.ndarray:
        """Every window of ``x`` (N, C, H, W) reduced with ``ufunc``, padding read as ``fill``."""
        a = node.attrs
        out_hw = spatial_output_shape(x.shape[2:], a["kernel"], a["stride"], a["pads"], a["dilation"], a["ceil_mode"])
        return window_reduce(x, a["kernel"], a["stride"], a["pads"], a["dilation"], out_hw, fill, ufunc)

    def products(self, node, in_shapes):
        return int(self.fanout(node, in_shapes[0]).sum())

    def fanout(self, node, in_shape):
        a = node.attrs
        per_position = window_fanout(in_shape[1:], node.shape[1:], a["kernel"], a["stride"], a["pads"], a["dilation"])
        return np.broadcast_to(per_position, in_shape).copy()

    def ann_counts(self, node, graph):
        in_shape = graph.node(node.inputs[0]).shape
        return ann_window("add", self.products(node, [in_shape]), None, in_shape, node.shape)

    def geometry(self, node, ctx) -> tuple[int, ...]:
        """The event kernel's geometry row of the pool."""
        a = node.attrs
        return window_geometry(
            ctx.shape(node.inputs[0]), node.shape, a["kernel"], a["stride"], a["pads"], a["dilation"]
        )
