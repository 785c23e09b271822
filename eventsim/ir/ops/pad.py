"""``pad``: padding of the spatial axes with zeros, or with one constant per channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .base import OpSpec, register_op, require
from .lowering import map_lowering

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Node


def constant_pad(template: Node, name: str, inputs: tuple[str, ...], pads: tuple[int, ...], value: np.ndarray) -> Node:
    """A pad node that fills the border of channel c with ``value[c]``.

    Parameters
    ----------
    template : Node
        Any node (the new one is made as its copy, which keeps this module free of the graph's).
    name : str
        The new node's name.
    inputs : tuple of str
        Its one input.
    pads : tuple of int
        (top, left, bottom, right).
    value : numpy.ndarray
        One border value per channel, (C,).
    """
    return template.copy(
        name=name,
        op="pad",
        inputs=tuple(inputs),
        attrs={"pads": tuple(pads)},
        params={"value": np.asarray(value, np.float32)},
        source=None,
    )


@register_op
class Pad(OpSpec):
    """Padding of the spatial axes of a (C, H, W) value; attr ``pads`` (top, left, bottom, right),
    optional param ``value`` (C,): the border value of each channel (zeros without it).

    The passes fold a zero pad into the conv or average pool after it. A pad with values is what a
    per-channel affine ``s·x + c`` before a zero-padded conv becomes when the conv absorbs it: the
    border ``-c/s`` makes the scaled border ``s·(-c/s) + c`` zero, as the conv's own padding was.
    On spikes the values are static (the border of the static part); events move by the pads.
    """

    name = "pad"
    constant_params = ("value",)

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        pads = node.attrs["pads"]
        require(len(shape) == 3, node, f"input must be (C, H, W), got {shape}")
        require(len(pads) == 4 and min(pads) >= 0, node, f"pads must be 4 values >= 0, got {pads}")
        if "value" in node.params:
            value = node.params["value"]
            require(value.shape == shape[:1], node, f"value must have shape ({shape[0]},), got {value.shape}")
        return (shape[0], shape[1] + pads[0] + pads[2], shape[2] + pads[1] + pads[3])

    def forward(self, node, xs):
        top, left, bottom, right = node.attrs["pads"]
        (x,) = xs
        if "value" not in node.params:
            return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
        n, c, h, w = x.shape
        out = np.empty((n, c, h + top + bottom, w + left + right), np.float32)
        out[...] = node.params["value"][:, None, None]
        out[:, :, top : top + h, left : left + w] = x
        return out

    def backward(self, node, xs, grad):
        # the border values stay fixed in training (they come from a folded normalisation)
        top, left = node.attrs["pads"][:2]
        h, w = xs[0].shape[2:]
        return [np.asarray(grad, np.float32)[:, :, top : top + h, left : left + w]], {}

    def describe(self, node):
        text = super().describe(node)
        return text + f" value[{node.params['value'].size}]" if "value" in node.params else text

    def is_identity(self, node, in_shapes):
        return not any(node.attrs["pads"])

    def zero_pads(self, node):
        value = node.params.get("value")
        return None if value is not None and np.any(value != 0) else tuple(node.attrs["pads"])

    def without_constant(self, node):
        return node.copy(params={})

    def lower_event(self, node, ctx):
        c, h, w = ctx.shape(node.inputs[0])
        top, left = node.attrs["pads"][0], node.attrs["pads"][1]
        cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h) + top, np.arange(w) + left, indexing="ij")
        graph_map = np.ravel_multi_index((cc.ravel(), hh.ravel(), ww.ravel()), node.shape).astype(np.int64)
        return map_lowering(node, ctx, [graph_map])
