"""``pad``: zero padding of the spatial axes."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, register_op, require
from .lowering import map_lowering


@register_op
class Pad(OpSpec):
    """Zero padding of the spatial axes of a (C, H, W) value; attr ``pads`` (top, left, bottom, right).
    The passes fold it into the conv or average pool after it; on spikes, events move by the pads."""

    name = "pad"

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        pads = node.attrs["pads"]
        require(len(shape) == 3, node, f"input must be (C, H, W), got {shape}")
        require(len(pads) == 4 and min(pads) >= 0, node, f"pads must be 4 values >= 0, got {pads}")
        return (shape[0], shape[1] + pads[0] + pads[2], shape[2] + pads[1] + pads[3])

    def forward(self, node, xs):
        top, left, bottom, right = node.attrs["pads"]
        return np.pad(xs[0], ((0, 0), (0, 0), (top, bottom), (left, right)))

    def backward(self, node, xs, grad):
        top, left = node.attrs["pads"][:2]
        h, w = xs[0].shape[2:]
        return [np.asarray(grad, np.float32)[:, :, top : top + h, left : left + w]], {}

    def is_identity(self, node, in_shapes):
        return not any(node.attrs["pads"])

    def lower_event(self, node, ctx):
        c, h, w = ctx.shape(node.inputs[0])
        top, left = node.attrs["pads"][0], node.attrs["pads"][1]
        cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h) + top, np.arange(w) + left, indexing="ij")
        graph_map = np.ravel_multi_index((cc.ravel(), hh.ravel(), ww.ravel()), node.shape).astype(np.int64)
        return map_lowering(node, ctx, [graph_map])
