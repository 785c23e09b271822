"""``dense``: a fully connected layer on a flat input."""

from __future__ import annotations

import numpy as np

from .base import register_op, require
from .lowering import EventLowering
from .weighted import WeightedOp


@register_op
class Dense(WeightedOp):
    """Fully connected layer on a flat input: ``y = W x + b``; params ``W`` (out, in), ``b`` (out,).

    On spikes: an event at input i adds column i of W (a contiguous row of Wᵀ) to every output.
    """

    name = "dense"

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        w, b = node.params["W"], node.params["b"]
        require(len(shape) == 1, node, f"input must be flat (F,), got {shape}", "flatten it first")
        require(w.ndim == 2 and w.shape[1] == shape[0], node, f"weight {w.shape} does not match input size {shape[0]}")
        require(b.shape == (w.shape[0],), node, f"bias must have shape ({w.shape[0]},), got {b.shape}")
        return (w.shape[0],)

    def forward(self, node, xs):
        return xs[0] @ node.params["W"].T + node.params["b"]

    def macs(self, node, in_shapes):
        return int(node.params["W"].size)

    def backward(self, node, xs, grad):
        grad = np.asarray(grad, np.float32)
        return [grad @ node.params["W"]], {"W": grad.T @ xs[0], "b": grad.sum(0)}

    def absorb_affine_before(self, node, affine, scale, shift):
        """Fold a per-feature affine ``s·x + c`` of the input (a BatchNorm after an activation):
        ``W·(s·x + c) + b = (W·s)·x + (b + W·c)``."""
        w = node.params["W"].astype(np.float64)
        return [node.copy(inputs=affine.inputs, params={"W": w * scale, "b": node.params["b"] + w @ shift})]

    def fanout(self, node, in_shape):
        return np.full(in_shape, node.params["W"].shape[0], np.int64)

    def to_nir(self, node, in_shapes, nir, in_scale=None):
        """``nir.Affine``: ``W x + b``, the same layout; W's columns times ``in_scale``."""
        weight = _scaled_columns(node.params["W"], in_scale)
        return [("", nir.Affine(weight=weight, bias=node.params["b"].copy()))]

    nir_absorbs_scale = True

    def to_nir_split(self, node, in_shape, axis, sizes, nir, scales):
        """One ``nir.Affine`` per piece with its columns of W (times the piece's scale; the bias on
        the first), summed."""
        w, b = node.params["W"], node.params["b"]
        chains, start = [], 0
        for i, (size, scale) in enumerate(zip(sizes, scales)):
            bias = b.copy() if i == 0 else np.zeros_like(b)
            weight = _scaled_columns(w[:, start : start + size], scale)
            chains.append([(f".piece{i}", nir.Affine(weight=weight, bias=bias))])
            start += size
        return chains, None

    def lower_event(self, node, ctx):
        w = node.params["W"]
        geometry = (w.shape[1], 0, 0, w.shape[0])
        return EventLowering("dense", geometry, w.T, float_work=w.shape[0], dense_output=True)


def _scaled_columns(w: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """A copy of ``w`` whose column j is multiplied by ``scale[j]`` (None: 1)."""
    return w.copy() if scale is None else (w * scale[None, :]).astype(np.float32)
