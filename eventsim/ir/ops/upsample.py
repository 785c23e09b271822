"""``upsample``: nearest-neighbour upsampling of the spatial axes by whole factors."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, register_op, require
from .lowering import EventLowering


@register_op
class Upsample(OpSpec):
    """Every element of a (C, H, W) value repeated into an ``scale`` = (sh, sw) block: output
    (C, H·sh, W·sw), ``y[c, i, j] = x[c, i // sh, j // sw]`` (ONNX Resize in nearest mode, or the
    older Upsample, with whole factors).

    It is linear and has no constant term, so both parts of a value go through it alike; on spikes
    each input event becomes sh·sw events of the same value (addressing only: no synaptic events).
    """

    name = "upsample"

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        scale = tuple(node.attrs["scale"])
        require(len(shape) == 3, node, f"input must be (C, H, W), got {shape}")
        require(len(scale) == 2 and min(scale) >= 1, node, f"scale must be two whole factors ≥ 1, got {scale}")
        return (shape[0], shape[1] * scale[0], shape[2] * scale[1])

    def forward(self, node, xs):
        sh, sw = node.attrs["scale"]
        return np.repeat(np.repeat(xs[0], sh, axis=2), sw, axis=3)

    def backward(self, node, xs, grad):
        n, c, h, w = xs[0].shape
        sh, sw = node.attrs["scale"]
        return [np.asarray(grad, np.float32).reshape(n, c, h, sh, w, sw).sum(axis=(3, 5))], {}

    def is_identity(self, node, in_shapes):
        return tuple(node.attrs["scale"]) == (1, 1)

    def affine_after(self, node, affine, scale, shift):
        """Repeating elements commutes with any per-channel affine."""
        return scale, shift

    def lower_event(self, node, ctx):
        # the graph positions each input position is copied to, (input size, sh·sw) in engine layout
        in_shape = ctx.shape(node.inputs[0])
        size = int(np.prod(in_shape))
        source = self.forward(node, [np.arange(size, dtype=np.float64).reshape((1,) + in_shape)])[0]
        source = ctx.engine_layout(source, node.shape).astype(np.int64)  # input (graph) position per output
        engine_of_input = ctx.engine_positions(in_shape)
        order = np.argsort(engine_of_input[source], kind="stable")  # outputs grouped by input engine position
        copies = int(np.prod(node.attrs["scale"]))
        return EventLowering("spread", (copies,), index_maps=(order.astype(np.int64),))
