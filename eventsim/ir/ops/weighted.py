"""What the weighted linear ops (``conv``, ``dense``) share: a weight ``W`` and a bias ``b``.

Their output is ``W·x + b``: the static part carries the bias, spikes go through ``W`` alone; a
per-channel affine after them (BatchNorm, a scaling) folds into ``W`` and ``b``; in a spiking network
one event adds a row of weights to each in-bounds target (one synaptic event per target).
"""

from __future__ import annotations

import numpy as np

from .base import OpSpec, per_channel
from .counting import ann_window, computed_once, nbytes, per_event


class WeightedOp(OpSpec):
    """Base of ops computing ``W·x + b`` with params ``W`` (output channels first) and ``b``."""

    synaptic_events = True
    constant_params = ("b",)
    trainable_params = ("W", "b")

    def products(self, node, in_shapes):
        return int(self.fanout(node, in_shapes[0]).sum())

    def absorb_next(self, node, following):
        """Fold a per-channel affine (BatchNorm, bias add, scaling) that follows into W and b."""
        if following.op != "affine":
            return None
        scale = per_channel(following.params["scale"], node.shape)
        shift = per_channel(following.params["shift"], node.shape)
        if scale is None or shift is None:
            return None
        w = node.params["W"] * scale.reshape((-1,) + (1,) * (node.params["W"].ndim - 1))
        return node.copy(params={"W": w, "b": node.params["b"] * scale + shift}, source=following.source)

    def without_constant(self, node):
        return node.copy(params={"W": node.params["W"], "b": np.zeros_like(node.params["b"])})

    def ann_counts(self, node, graph):
        in_shape = graph.node(node.inputs[0]).shape
        bias = nbytes(node.params["b"].shape) if np.any(node.params["b"] != 0) else None
        products = self.products(node, [in_shape])
        return ann_window("mac", products, nbytes(node.params["W"].shape), in_shape, node.shape, bias)

    def snn_counts(self, node, ctx):
        rows = []
        if ctx.once_per_sample:
            products = self.products(node, ctx.in_shapes)
            rows += computed_once(ctx, "mac", products, nbytes(node.params["W"].shape), node.shape)
        if ctx.events_per_step is not None:
            rows += per_event(ctx.events_per_step, nbytes(node.params["W"].shape), node.shape, ctx.graded)
        return rows
