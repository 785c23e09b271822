"""``concat``: concatenation along a per-sample axis."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, register_op, require
from .lowering import map_lowering


@register_op
class Concat(OpSpec):
    """Concatenation along per-sample axis ``axis`` (0: channels). On spikes, events move to their
    place in the output."""

    name = "concat"
    max_inputs = None

    def infer_shape(self, node, in_shapes):
        axis = node.attrs["axis"]
        rank = len(in_shapes[0])
        require(0 <= axis < rank, node, f"axis {axis} out of range for rank {rank}")
        for s in in_shapes:
            require(
                len(s) == rank and all(a == b for i, (a, b) in enumerate(zip(s, in_shapes[0])) if i != axis),
                node,
                f"inputs {in_shapes} differ outside axis {axis}",
            )
        out = list(in_shapes[0])
        out[axis] = sum(s[axis] for s in in_shapes)
        return tuple(out)

    def forward(self, node, xs):
        return np.concatenate(xs, axis=node.attrs["axis"] + 1)

    def backward(self, node, xs, grad):
        ends = np.cumsum([x.shape[node.attrs["axis"] + 1] for x in xs])[:-1]
        return list(np.split(np.asarray(grad, np.float32), ends, axis=node.attrs["axis"] + 1)), {}

    def nir_concat_axis(self, node):
        """NIR has no concatenation: the pieces go to the consumers, which split their weights."""
        return node.attrs["axis"]

    def lower_event(self, node, ctx):
        axis, offset, maps = node.attrs["axis"], 0, []
        for name in node.inputs:
            shape = ctx.shape(name)
            grid = list(np.meshgrid(*(np.arange(d) for d in shape), indexing="ij"))
            grid[axis] = grid[axis] + offset
            maps.append(np.ravel_multi_index(tuple(g.ravel() for g in grid), node.shape).astype(np.int64))
            offset += shape[axis]
        return map_lowering(node, ctx, maps)
