"""Weighted linear ops: ``conv`` (2-D, grouped, dilated), ``dense`` and per-element ``affine``."""

from __future__ import annotations

import numpy as np

from .registry import OpSpec, Shape, register_op, require
from .windows import padded_windows, spatial_output_shape


def broadcast_param_ok(param: np.ndarray, shape: Shape) -> bool:
    """Whether ``param`` broadcasts to ``shape`` without enlarging it."""
    try:
        return np.broadcast_shapes(param.shape, shape) == tuple(shape)
    except ValueError:
        return False


@register_op
class Conv(OpSpec):
    """2-D convolution, NCHW: ``y = W * x + b``.

    Params ``W`` (C_out, C_in/groups, kh, kw) and ``b`` (C_out,); attrs ``stride`` (sh, sw),
    ``pads`` (top, left, bottom, right; zero padding), ``dilation`` (dh, dw), ``groups``.
    """

    name = "conv"
    quiet = {"pads": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        w, b = node.params["W"], node.params["b"]
        require(len(shape) == 3, node, f"input must be (C, H, W), got {shape}")
        require(w.ndim == 4, node, f"weight must be 4-D (C_out, C_in/groups, kh, kw), got {w.shape}")
        groups = node.attrs["groups"]
        require(
            groups >= 1 and shape[0] % groups == 0 and w.shape[0] % groups == 0,
            node,
            f"groups={groups} must divide input channels {shape[0]} and output channels {w.shape[0]}",
        )
        require(
            w.shape[1] * groups == shape[0],
            node,
            f"weight expects {w.shape[1] * groups} input channels, input has {shape[0]}",
        )
        require(b.shape == (w.shape[0],), node, f"bias must have shape ({w.shape[0]},), got {b.shape}")
        require(
            min(node.attrs["stride"]) >= 1 and min(node.attrs["dilation"]) >= 1,
            node,
            "stride and dilation must be >= 1",
        )
        require(min(node.attrs["pads"]) >= 0, node, "pads must be >= 0")
        ho, wo = spatial_output_shape(
            shape[1:], w.shape[2:], node.attrs["stride"], node.attrs["pads"], node.attrs["dilation"]
        )
        require(ho >= 1 and wo >= 1, node, f"kernel {w.shape[2:]} does not fit the padded input {shape}")
        return (w.shape[0], ho, wo)

    def forward(self, node, xs):
        (x,) = xs
        w, b = node.params["W"], node.params["b"]
        c_out, c_g, kh, kw = w.shape
        groups = node.attrs["groups"]
        n = x.shape[0]
        ho, wo = spatial_output_shape(
            x.shape[2:], (kh, kw), node.attrs["stride"], node.attrs["pads"], node.attrs["dilation"]
        )
        cols = padded_windows(
            x, (kh, kw), node.attrs["stride"], node.attrs["pads"], node.attrs["dilation"], (ho, wo), 0.0
        )
        # im2col per group, then one batched BLAS matmul over the groups
        cols = cols.reshape(n, groups, c_g, ho, wo, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(groups, n * ho * wo, c_g * kh * kw)
        wmat = w.reshape(groups, c_out // groups, c_g * kh * kw).transpose(0, 2, 1)
        y = np.matmul(cols, wmat).reshape(groups, n, ho, wo, c_out // groups)
        y = y.transpose(1, 0, 4, 2, 3).reshape(n, c_out, ho, wo)
        return np.add(y, b[:, None, None], out=np.empty(y.shape, np.float32))  # contiguous NCHW

    def describe(self, node):
        kh, kw = node.params["W"].shape[2:]
        return f"kernel={kh}x{kw} " + super().describe(node)

    def macs(self, node, in_shapes):
        w = node.params["W"]
        return int(np.prod(node.shape) * np.prod(w.shape[1:]))


@register_op
class Dense(OpSpec):
    """Fully connected layer on a flat input: ``y = W x + b``; params ``W`` (out, in), ``b`` (out,)."""

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


@register_op
class Affine(OpSpec):
    """Element-wise ``y = scale * x + shift``; params broadcast to the input shape (e.g. (C, 1, 1)).

    BatchNorm that cannot be folded into a conv/dense, and constant Mul/Add/Sub/Div, become this.
    """

    name = "affine"

    def infer_shape(self, node, in_shapes):
        (shape,) = in_shapes
        for key in ("scale", "shift"):
            require(
                broadcast_param_ok(node.params[key], shape),
                node,
                f"{key} of shape {node.params[key].shape} does not broadcast to the input {shape}",
            )
        return shape

    def forward(self, node, xs):
        return xs[0] * node.params["scale"] + node.params["shift"]

    def describe(self, node):
        scale, shift = node.params["scale"], node.params["shift"]
        if scale.size == 1 and shift.size == 1:
            return f"scale={float(scale.flat[0]):g} shift={float(shift.flat[0]):g}"
        return f"scale{list(scale.shape)} shift{list(shift.shape)}"
