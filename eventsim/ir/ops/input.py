"""``input``: the graph's input, with its layout permutation and normalisation."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, nir_require, per_channel, register_op, require, require_scale_shift
from .lowering import EventLowering


@register_op
class Input(OpSpec):
    """The graph input. Attrs ``source_shape`` (per-sample shape of the data the user passes),
    ``perm`` (axis order that turns it into the graph's layout, e.g. NHWC data → CHW) and params
    ``scale``, ``shift``: the input normalisation ``x * scale + shift``, applied after encoding.

    With direct coding the whole input is static; with spike coding (rate, TTFS) the shift is the
    static part and each input spike, of the coding's amplitude, is scaled.
    """

    name = "input"
    role = "input"
    min_inputs = 0
    max_inputs = 0

    def infer_shape(self, node, in_shapes):
        source = tuple(node.attrs["source_shape"])
        perm = tuple(node.attrs["perm"])
        require(sorted(perm) == list(range(len(source))), node, f"perm {perm} is not a permutation of {source}")
        require(all(d >= 1 for d in source), node, f"input shape {source} must be positive")
        shape = tuple(source[p] for p in perm)
        require_scale_shift(node, shape)
        return shape

    def forward(self, node, xs):
        (x,) = xs
        perm = tuple(node.attrs["perm"])
        if perm != tuple(range(len(perm))):
            x = x.transpose((0,) + tuple(p + 1 for p in perm))
        scale, shift = node.params["scale"], node.params["shift"]
        if np.any(scale != 1) or np.any(shift != 0):
            x = x * scale + shift
        return np.ascontiguousarray(x, dtype=np.float32)

    def describe(self, node):
        text = f"data{list(node.attrs['source_shape'])}"
        if tuple(node.attrs["perm"]) != tuple(range(len(node.attrs["perm"]))):
            text += f" perm={tuple(node.attrs['perm'])}"
        if np.any(node.params["scale"] != 1) or np.any(node.params["shift"] != 0):
            text += " normalised"
        return text

    def absorb_next(self, node, following):
        """Merge an affine right after the input into the input normalisation."""
        if following.op != "affine":
            return None
        scale, shift = following.params["scale"], following.params["shift"]
        params = {"scale": node.params["scale"] * scale, "shift": node.params["shift"] * scale + shift}
        return node.copy(params=params, source=following.source)

    def without_constant(self, node):
        return node.copy(params={"scale": node.params["scale"], "shift": np.zeros_like(node.params["shift"])})

    def to_nir(self, node, in_shapes, nir):
        """``nir.Input`` in the graph's layout; a normalisation becomes a diagonal 1x1 conv (C, H, W)
        or a diagonal affine (F,) after it, exact (one product per output, plus the shift)."""
        shape = tuple(node.shape)
        parts = [("", nir.Input(input_type={"input": np.array(shape)}))]
        scale, shift = node.params["scale"], node.params["shift"]
        if np.all(scale == 1) and np.all(shift == 0):
            return parts
        size = shape[0]
        if len(shape) == 1:
            s, c = np.broadcast_to(scale, shape), np.broadcast_to(shift, shape)
            return parts + [(".norm", nir.Affine(weight=np.diag(s).astype(np.float32), bias=c.astype(np.float32)))]
        s, c = per_channel(scale, shape), per_channel(shift, shape)
        nir_require(
            len(shape) == 3 and s is not None and c is not None,
            node,
            "NIR can express the input normalisation only per channel of a (C, H, W) input or per feature",
        )
        weight = (np.eye(size, dtype=np.float32) * s)[:, :, None, None]
        conv = nir.Conv2d(
            input_shape=shape[1:], weight=weight, stride=1, padding=0, dilation=1, groups=1, bias=c.astype(np.float32)
        )
        return parts + [(".norm", conv)]

    def lower_event(self, node, ctx):
        # what an input spike adds: the coding's amplitude times the normalisation's scale
        scale = np.broadcast_to(np.float32(ctx.input_amplitude) * node.params["scale"], node.shape)
        # data-layout position of each input element → its engine position after the permutation
        source = tuple(node.attrs["source_shape"])
        graph_position = np.arange(int(np.prod(source))).reshape(source).transpose(node.attrs["perm"]).ravel()
        engine_of_source = np.empty(graph_position.size, np.int64)
        engine_of_source[graph_position] = ctx.engine_positions(node.shape)
        return EventLowering("input", floats=ctx.engine_layout(scale, node.shape), index_maps=(engine_of_source,))
