"""``reshape``: a row-major reshape of the per-sample value (flatten is one)."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, nir_require, per_channel, register_op, require
from .lowering import map_lowering


@register_op
class Reshape(OpSpec):
    """Row-major reshape to the per-sample ``shape`` (flatten is a reshape to (F,)). On spikes, events
    keep their row-major position."""

    name = "reshape"
    rearranges = True

    def infer_shape(self, node, in_shapes):
        shape = tuple(node.attrs["shape"])
        require(
            all(d >= 1 for d in shape) and int(np.prod(shape)) == int(np.prod(in_shapes[0])),
            node,
            f"cannot reshape {in_shapes[0]} to {shape}",
        )
        return shape

    def forward(self, node, xs):
        return xs[0].reshape((xs[0].shape[0],) + tuple(node.attrs["shape"]))

    def backward(self, node, xs, grad):
        return [np.asarray(grad, np.float32).reshape(xs[0].shape)], {}

    def is_identity(self, node, in_shapes):
        return tuple(node.attrs["shape"]) == tuple(in_shapes[0])

    def absorb_previous(self, node, previous):
        """reshape → reshape is the second reshape alone."""
        return node.copy(inputs=previous.inputs) if previous.op == "reshape" else None

    def affine_after(self, node, affine, scale, shift):
        """A per-channel affine moves behind the reshape when its values stay per-channel in the
        new shape (flattening (C, H, W) makes them per-feature: one value per element)."""
        in_shape = tuple(affine.shape)
        moved = []
        for values in (scale, shift):
            full = np.broadcast_to(np.reshape(values, (-1,) + (1,) * (len(in_shape) - 1)), in_shape)
            moved.append(per_channel(full.reshape(node.shape), node.shape))
        return None if moved[0] is None or moved[1] is None else (moved[0], moved[1])

    def to_nir(self, node, in_shapes, nir):
        """``nir.Flatten`` of the whole per-sample value; other reshapes have no NIR form."""
        nir_require(len(node.shape) == 1, node, "NIR can express only flattening reshapes")
        return [("", nir.Flatten(input_type={"input": np.array(in_shapes[0])}, start_dim=0, end_dim=-1))]

    nir_passes_scale = True

    def nir_scale_after(self, node, scale, in_shape):
        """A scale per channel becomes one per element of the channel's block of the flat value."""
        if scale is None or len(in_shape) == 1:
            return scale
        return np.repeat(scale, int(np.prod(in_shape[1:]))).astype(np.float32)

    def to_nir_split(self, node, in_shape, axis, sizes, nir, scales):
        """Flattening a concatenation of channels is the concatenation of the flattened pieces."""
        nir_require(
            len(node.shape) == 1 and axis == 0, node, "NIR can flatten a concatenation only along the first axis"
        )
        rest = int(np.prod(in_shape[1:]))
        chains = [
            [(f".piece{i}", nir.Flatten(input_type={"input": np.array((size,) + tuple(in_shape[1:]))}, start_dim=0))]
            for i, size in enumerate(sizes)
        ]
        piece_scales = [None if s is None else np.repeat(s, rest).astype(np.float32) for s in scales]
        return chains, (0, tuple(size * rest for size in sizes), piece_scales)

    def lower_event(self, node, ctx):
        return map_lowering(node, ctx, [np.arange(int(np.prod(node.shape)), dtype=np.int64)])
