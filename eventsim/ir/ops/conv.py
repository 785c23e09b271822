"""``conv``: 2-D convolution (grouped, dilated, strided, zero-padded), NCHW."""

from __future__ import annotations

import numpy as np

from .base import nir_require, register_op, require
from .lowering import EventLowering, window_geometry
from .pad import constant_pad
from .weighted import WeightedOp
from .windows import padded_windows, spatial_output_shape, unwindow, window_fanout


@register_op
class Conv(WeightedOp):
    """2-D convolution, NCHW: ``y = W * x + b``.

    Params ``W`` (C_out, C_in/groups, kh, kw) and ``b`` (C_out,); attrs ``stride`` (sh, sw),
    ``pads`` (top, left, bottom, right; zero padding), ``dilation`` (dh, dw), ``groups``.

    On spikes: an event at input (c, y, x) adds, for every kernel tap whose window holds it, the
    C_out/groups weights of its group to that window's output position; taps that would land on
    padding reach nothing, so the fan-out counts in-bounds targets only.
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
        # im2col per group with the output positions innermost (the copy then runs along image rows,
        # not along the few kernel taps), one BLAS product per group over all samples, and only the
        # output (C_out/K of the columns' size) transposed back
        cols = cols.reshape(n, groups, c_g, ho, wo, kh, kw).transpose(1, 2, 5, 6, 0, 3, 4)
        cols = cols.reshape(groups, c_g * kh * kw, n * ho * wo)
        y = np.matmul(w.reshape(groups, c_out // groups, c_g * kh * kw), cols)
        y = y.reshape(groups, c_out // groups, n, ho, wo).transpose(2, 0, 1, 3, 4).reshape(n, c_out, ho, wo)
        return np.add(y, b[:, None, None], out=np.empty(y.shape, np.float32))  # contiguous NCHW

    def backward(self, node, xs, grad):
        """Per group, the weight gradient is the output gradient times the im2col matrix and the
        input gradient the transposed weights times the output gradient, folded back (unwindow)."""
        (x,) = xs
        w, a = node.params["W"], node.attrs
        c_out, c_g, kh, kw = w.shape
        groups, (n, _, ho, wo) = a["groups"], grad.shape
        o_g = c_out // groups
        cols = padded_windows(x, (kh, kw), a["stride"], a["pads"], a["dilation"], (ho, wo), 0.0)
        cols = cols.reshape(n, groups, c_g, ho, wo, kh, kw).transpose(1, 2, 5, 6, 0, 3, 4)
        cols = cols.reshape(groups, c_g * kh * kw, n * ho * wo)
        g = np.asarray(grad, np.float32).reshape(n, groups, o_g, ho, wo).transpose(1, 2, 0, 3, 4)
        g = g.reshape(groups, o_g, n * ho * wo)
        grad_w = np.matmul(g, cols.transpose(0, 2, 1)).reshape(w.shape)
        grad_cols = np.matmul(w.reshape(groups, o_g, c_g * kh * kw).transpose(0, 2, 1), g)
        grad_cols = grad_cols.reshape(groups, c_g, kh, kw, n, ho, wo).transpose(4, 0, 1, 5, 6, 2, 3)
        grad_cols = grad_cols.reshape(n, groups * c_g, ho, wo, kh, kw)
        grad_x = unwindow(grad_cols, x.shape[2:], (kh, kw), a["stride"], a["pads"], a["dilation"])
        return [grad_x], {"W": grad_w.astype(np.float32), "b": g.sum(axis=2).reshape(-1)}

    def work_bytes(self, node, in_shapes):
        # the im2col matrix (and its copy per group), then the output before and after transposing
        cols = int(np.prod(node.shape[1:])) * int(np.prod(node.params["W"].shape[1:])) * node.attrs["groups"]
        return 8 * cols + 8 * int(np.prod(node.shape))

    def describe(self, node):
        kh, kw = node.params["W"].shape[2:]
        return f"kernel={kh}x{kw} " + super().describe(node)

    def macs(self, node, in_shapes):
        return int(np.prod(node.shape) * np.prod(node.params["W"].shape[1:]))

    def absorb_previous(self, node, previous):
        """Fold a zero pad into the convolution's own padding."""
        pads = previous.spec.zero_pads(previous)
        if pads is None:
            return None
        merged = node.copy(inputs=previous.inputs)
        merged.attrs["pads"] = tuple(a + b for a, b in zip(pads, node.attrs["pads"]))
        return merged

    def absorb_affine_before(self, node, affine, scale, shift):
        """Fold a per-channel affine ``s·x + c`` of the input (a BatchNorm after an activation):
        ``W·(s·x + c) + b = (W·s)·x + (b + Σ W·c)``, the scale per input channel into the weights and
        the shift, summed over the kernel, into the bias.

        That sum holds where the whole kernel sees the image. Zero padding sees no ``c``, so with
        padding and a shift the padding moves into a pad node in front whose border in channel j
        is ``-c_j/s_j``: after the scaled weights the border gives ``s·(-c/s) + c = 0`` relative to
        the folded bias, as the original zero padding did. This needs no bias of a new shape (the
        border's constant reaches the spiking network as the pad's static part, which every engine
        and the trainer already propagate through a conv); it needs s ≠ 0 wherever c ≠ 0, else the
        affine stays (None).
        """
        groups, w = node.attrs["groups"], node.params["W"].astype(np.float64)
        c_out, c_g, kh, kw = w.shape
        per_group = w.reshape(groups, c_out // groups, c_g, kh, kw)
        s, c = np.reshape(scale, (groups, 1, c_g)), np.reshape(shift, (groups, 1, c_g))
        weights = (per_group * s[..., None, None]).reshape(w.shape)
        bias = node.params["b"] + (per_group.sum(axis=(3, 4)) * c).sum(axis=2).reshape(c_out)
        folded = node.copy(inputs=affine.inputs, params={"W": weights, "b": bias})
        pads = node.attrs["pads"]
        if not any(pads) or not np.any(shift):
            return [folded]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            border = np.where(shift == 0, 0.0, -np.asarray(shift, np.float64) / scale).astype(np.float32)
        if not np.all(np.isfinite(border)):  # s = 0 with c ≠ 0 (or -c/s beyond float32)
            return None
        folded.inputs, folded.attrs["pads"] = (affine.name,), (0, 0, 0, 0)
        return [constant_pad(affine, affine.name, affine.inputs, pads, border), folded]

    def fanout(self, node, in_shape):
        a, w = node.attrs, node.params["W"]
        per_position = window_fanout(in_shape[1:], node.shape[1:], w.shape[2:], a["stride"], a["pads"], a["dilation"])
        return np.broadcast_to(per_position * (w.shape[0] // a["groups"]), in_shape).copy()

    nir_absorbs_scale = True

    def to_nir(self, node, in_shapes, nir, in_scale=None):
        """``nir.Conv2d`` with symmetric padding; groups > 1 as one dense conv whose weight is
        block-diagonal (zeros between the groups), which computes the same sums exactly; the input
        channels' weights times ``in_scale``."""
        full = self._nir_weight(node, in_scale)
        return [("", self._nir_conv(node, tuple(in_shapes[0][1:]), full, node.params["b"].copy(), nir))]

    def to_nir_split(self, node, in_shape, axis, sizes, nir, scales):
        """On a concatenation of channels: one ``nir.Conv2d`` per piece with its input channels of
        the (block-diagonal) weight, times the piece's scale, the bias on the first; NIR sums their
        outputs."""
        nir_require(axis == 0, node, "a conv can take a concatenation in NIR only along its channels")
        pieces = [np.ones(size, np.float32) if s is None else s for size, s in zip(sizes, scales)]
        full, b = self._nir_weight(node, np.concatenate(pieces)), node.params["b"]
        chains, start = [], 0
        for i, size in enumerate(sizes):
            weight = np.ascontiguousarray(full[:, start : start + size])
            bias = b.copy() if i == 0 else np.zeros_like(b)
            chains.append([(f".piece{i}", self._nir_conv(node, tuple(in_shape[1:]), weight, bias, nir))])
            start += size
        return chains, None

    @staticmethod
    def _nir_weight(node, in_scale: np.ndarray | None = None) -> np.ndarray:
        """The weight as a dense conv's (C_out, C_in, kh, kw): block-diagonal over the groups, input
        channel c times ``in_scale[c]``."""
        w, groups = node.params["W"], node.attrs["groups"]
        c_out, c_g, kh, kw = w.shape
        full = np.zeros((c_out, c_g * groups, kh, kw), np.float32)
        o_g = c_out // groups
        for g in range(groups):
            full[g * o_g : (g + 1) * o_g, g * c_g : (g + 1) * c_g] = w[g * o_g : (g + 1) * o_g]
        return full if in_scale is None else (full * in_scale[None, :, None, None]).astype(np.float32)

    @staticmethod
    def _nir_conv(node, spatial: tuple[int, ...], weight: np.ndarray, bias: np.ndarray, nir):
        """``nir.Conv2d`` of the node's geometry (symmetric padding) with ``weight`` and ``bias``."""
        a = node.attrs
        top, left, bottom, right = a["pads"]
        nir_require((top, left) == (bottom, right), node, f"NIR pads both sides alike; pads {a['pads']} differ")
        return nir.Conv2d(
            input_shape=spatial,
            weight=weight,
            stride=tuple(a["stride"]),
            padding=(top, left),
            dilation=tuple(a["dilation"]),
            groups=1,
            bias=bias,
        )

    def lower_event(self, node, ctx):
        groups = node.attrs["groups"]
        c_out, c_g, kh, kw = node.params["W"].shape
        # (groups, kh, kw, C_in/groups, C_out/groups): an event adds contiguous rows of C_out/groups
        layout = node.params["W"].reshape(groups, c_out // groups, c_g, kh, kw).transpose(0, 3, 4, 2, 1)
        a = node.attrs
        geometry = window_geometry(
            ctx.shape(node.inputs[0]), node.shape, (kh, kw), a["stride"], a["pads"], a["dilation"], groups
        )
        size = int(np.prod(node.shape))
        return EventLowering("conv", geometry, layout, float_work=size, dense_output=True)
