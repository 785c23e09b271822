"""Ops that route values without weights: ``input``, ``add``, ``concat``, ``reshape``, ``pad``."""

from __future__ import annotations

import numpy as np

from .linear import broadcast_param_ok
from .registry import OpSpec, register_op, require


@register_op
class Input(OpSpec):
    """The graph input. Attrs ``source_shape`` (per-sample shape of the data the user passes),
    ``perm`` (axis order that turns it into the graph's layout, e.g. NHWC data → CHW) and params
    ``scale``, ``shift``: the input normalisation ``x * scale + shift``, applied before encoding."""

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
        for key in ("scale", "shift"):
            require(
                broadcast_param_ok(node.params[key], shape),
                node,
                f"{key} of shape {node.params[key].shape} does not broadcast to the input {shape}",
            )
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


@register_op
class Add(OpSpec):
    """Sum of two or more inputs of equal shape (residual connections)."""

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


@register_op
class Concat(OpSpec):
    """Concatenation along per-sample axis ``axis`` (0: channels)."""

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


@register_op
class Reshape(OpSpec):
    """Row-major reshape to the per-sample ``shape`` (flatten is a reshape to (F,))."""

    name = "reshape"

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


@register_op
class Pad(OpSpec):
    """Zero padding of the spatial axes of a (C, H, W) value; attr ``pads`` (top, left, bottom, right)."""

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


@register_op
class Delay(OpSpec):
    """A delay of ``steps`` time steps on what a value carries in spikes (attr ``steps`` ≥ 1).

    The ANN sees the identity. In a spiking network the dynamic part (spikes or the currents made of
    them) arrives ``steps`` later; the static part is constant and unchanged. Synchronous neurons
    (BSNN) on residual shortcuts are delays: the conversion inserts them (eventsim.bsnn).
    """

    name = "delay"

    def infer_shape(self, node, in_shapes):
        steps = node.attrs.get("steps")
        require(isinstance(steps, int) and steps >= 1, node, f"steps must be a whole number ≥ 1, got {steps!r}")
        return in_shapes[0]

    def forward(self, node, xs):
        return xs[0]
