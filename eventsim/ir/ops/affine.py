"""``affine``: element-wise ``scale * x + shift``."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, per_channel, register_op, require_scale_shift
from .lowering import EventLowering


@register_op
class Affine(OpSpec):
    """Element-wise ``y = scale * x + shift``; params broadcast to the input shape (e.g. (C, 1, 1)).

    BatchNorm that cannot be folded into the conv/dense before it, and constant Mul/Add/Sub/Div,
    become this; a per-channel one after an activation then moves forward into the next conv/dense
    (:meth:`channel_affine` describes it to the pass). On spikes the shift is static and each event is
    scaled.
    """

    name = "affine"
    elementwise = True

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        require_scale_shift(node, shape)
        return shape

    def forward(self, node, xs):
        return xs[0] * node.params["scale"] + node.params["shift"]

    def backward(self, node, xs, grad):
        # scale and shift stay fixed in training (folded normalisations)
        return [(np.asarray(grad, np.float32) * node.params["scale"]).astype(np.float32)], {}

    def describe(self, node):
        scale, shift = node.params["scale"], node.params["shift"]
        if scale.size == 1 and shift.size == 1:
            return f"scale={float(scale.flat[0]):g} shift={float(shift.flat[0]):g}"
        return f"scale{list(scale.shape)} shift{list(shift.shape)}"

    def is_identity(self, node, in_shapes):
        return bool(np.all(node.params["scale"] == 1) and np.all(node.params["shift"] == 0))

    def chain_link(self, node):
        return node.params["scale"].size == 1 and node.params["shift"].size == 1

    def params_before_reshape(self, node, src, dst):
        """Scalar params move as they are; per-channel ones when the reshape keeps the channels."""
        params = {}
        for key, param in node.params.items():
            if param.size == 1:
                params[key] = param.reshape(())
                continue
            channels = per_channel(param, dst) if src[0] == dst[0] else None
            if channels is None:
                return None
            params[key] = channels.reshape((-1,) + (1,) * (len(src) - 1))
        return params

    def channel_affine(self, node):
        scale = per_channel(node.params["scale"], node.shape)
        shift = per_channel(node.params["shift"], node.shape)
        return None if scale is None or shift is None else (scale, shift)

    def with_channel_affine(self, node, scale, shift, shape):
        column = (-1,) + (1,) * (len(shape) - 1)  # one value per channel, broadcast over the rest
        return node.copy(params={"scale": np.reshape(scale, column), "shift": np.reshape(shift, column)})

    def as_nondecreasing_map(self, node, shape):
        """A per-channel affine is non-decreasing when no scale is negative (a zero scale makes the
        channel constant, which still is); its params are re-broadcast to ``shape``."""
        channels = self.channel_affine(node)
        if channels is None or not np.all(channels[0] >= 0):  # NaN scales fail too
            return None
        return self.with_channel_affine(node, *channels, shape)

    def absorb_affine_before(self, node, affine, scale, shift):
        """Two per-channel affines in a row are one: ``s2·(s·x + c) + c2``."""
        own = self.channel_affine(node)
        if own is None:
            return None
        s2, c2 = own
        return [self.with_channel_affine(node, s2 * scale, s2 * shift + c2, node.shape).copy(inputs=affine.inputs)]

    def without_constant(self, node):
        return node.copy(params={"scale": node.params["scale"], "shift": np.zeros_like(node.params["shift"])})

    def lower_event(self, node, ctx):
        scale = np.broadcast_to(node.params["scale"], node.shape)
        return EventLowering("affine", floats=ctx.engine_layout(scale, node.shape))
