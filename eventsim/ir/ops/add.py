"""``add``: the sum of two or more values (residual connections)."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, nir_require, register_op, require
from .counting import Count, nbytes
from .lowering import EventLowering


@register_op
class Add(OpSpec):
    """Sum of two or more inputs of equal shape. On spikes, events of its inputs at the same position
    and step merge into one event of their sum (none if they cancel)."""

    name = "add"
    min_inputs = 2
    max_inputs = None

    def infer_shape(self, node, in_shapes):
        require(all(s == in_shapes[0] for s in in_shapes), node, f"inputs must have equal shapes, got {in_shapes}")
        return in_shapes[0]

    def forward(self, node, xs):
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out = out + x
        return out

    def backward(self, node, xs, grad):
        return [np.asarray(grad, np.float32) for _ in xs], {}

    def ann_counts(self, node, graph):
        out = int(np.prod(node.shape))
        return [
            Count("add", out * (len(node.inputs) - 1)),
            Count("activation_read", out * len(node.inputs), memory_bytes=nbytes(node.shape)),
            Count("activation_write", out, memory_bytes=nbytes(node.shape)),
        ]

    nir_passes_scale = True  # the exporter gives every input the same scale first

    def to_nir(self, node, in_shapes, nir):
        """No node: NIR sums the edges that enter a node, so the inputs' edges go to every consumer."""
        nir_require(
            len(set(node.inputs)) == len(node.inputs), node, "NIR cannot add a value to itself (a duplicate edge)"
        )
        return []

    def nir_scale_after(self, node, scale, in_shape):
        return scale

    def lower_event(self, node, ctx):
        size = int(np.prod(node.shape))
        return EventLowering("add", float_work=size, int_work=2 * size)
