"""``avgpool``: average pooling (a global average pool is one)."""

from __future__ import annotations

import numpy as np

from .base import nir_require, register_op
from .counting import computed_once, per_event
from .lowering import EventLowering
from .pooling import PoolOp
from .windows import spatial_output_shape, unwindow, window_reduce


def avgpool_divisor(node, hw: tuple[int, int]) -> np.ndarray:
    """The count each average-pooling window's sum is divided by, (Ho, Wo), float32.

    With ``count_include_pad`` padded zeros count, window parts that ceil mode pushes past the
    padding do not; without it only input elements count.
    """
    a = node.attrs
    out_hw = spatial_output_shape(hw, a["kernel"], a["stride"], a["pads"], a["dilation"], a["ceil_mode"])
    if a["count_include_pad"]:
        pads = a["pads"]
        mask = np.ones((1, 1, hw[0] + pads[0] + pads[2], hw[1] + pads[1] + pads[3]), np.float32)
        count = window_reduce(mask, a["kernel"], a["stride"], (0, 0, 0, 0), a["dilation"], out_hw, 0.0, np.add)
    else:
        count = window_reduce(
            np.ones((1, 1) + tuple(hw), np.float32),
            a["kernel"],
            a["stride"],
            a["pads"],
            a["dilation"],
            out_hw,
            0.0,
            np.add,
        )
    return count[0, 0]


@register_op
class AvgPool(PoolOp):
    """Average pooling. Attrs ``kernel``, ``stride``, ``pads`` (t, l, b, r), ``dilation``,
    ``ceil_mode``, ``count_include_pad`` (whether padded zeros count in the divisor; the divisor
    never counts window parts beyond the padded input, which ceil mode can create).

    On spikes it is linear: each event adds to every window that holds it (one synaptic event per
    window, no weight read), and the sums of a step are divided once, as the executor divides.
    """

    name = "avgpool"
    synaptic_events = True

    def forward(self, node, xs):
        (x,) = xs
        return self.reduce(node, x, 0.0, np.add) / avgpool_divisor(node, x.shape[2:])

    def backward(self, node, xs, grad):
        """Each window element gets the window's gradient over its divisor."""
        a, hw = node.attrs, xs[0].shape[2:]
        share = np.asarray(grad, np.float32) / avgpool_divisor(node, hw)
        cols = np.broadcast_to(share[..., None, None], share.shape + tuple(a["kernel"]))
        return [unwindow(cols, hw, a["kernel"], a["stride"], a["pads"], a["dilation"])], {}

    def absorb_previous(self, node, previous):
        """Fold a zero pad into the pool's padding when padded zeros count in the average."""
        pads = previous.spec.zero_pads(previous)
        if pads is None or not node.attrs["count_include_pad"]:
            return None
        merged = node.copy(inputs=previous.inputs)
        merged.attrs["pads"] = tuple(a + b for a, b in zip(pads, node.attrs["pads"]))
        return merged

    def affine_after(self, node, affine, scale, shift):
        """Averages commute with a per-channel affine unless padded zeros count: they would get
        the affine's shift too, and the average of the padded window its share of it."""
        if node.attrs["count_include_pad"] and any(node.attrs["pads"]):
            return None
        return scale, shift

    def snn_counts(self, node, ctx):
        rows = []
        if ctx.once_per_sample:
            rows += computed_once(ctx, "add", self.products(node, ctx.in_shapes), None, node.shape)
        if ctx.events_per_step is not None:
            rows += per_event(ctx.events_per_step, None, node.shape, ctx.graded)
        return rows

    nir_passes_scale = True

    def to_nir(self, node, in_shapes, nir):
        """``nir.SumPool2d`` (which more NIR readers take than ``AvgPool2d``): a divisor that is the
        same for every window becomes a scale of the output that the next conv or dense takes into
        its weights (:meth:`nir_scale_after`); a divisor that varies (padding not counted) is a
        ``nir.Scale`` by 1/divisor of each window after it."""
        a = node.attrs
        top, left, bottom, right = a["pads"]
        nir_require(tuple(a["dilation"]) == (1, 1), node, "NIR pools have no dilation")
        nir_require(not a["ceil_mode"], node, "NIR pools have no ceil mode")
        nir_require((top, left) == (bottom, right), node, f"NIR pads both sides alike; pads {a['pads']} differ")
        window = dict(kernel_size=np.array(a["kernel"]), stride=np.array(a["stride"]), padding=np.array((top, left)))
        divisor = avgpool_divisor(node, tuple(in_shapes[0][1:]))
        if np.all(divisor == divisor.flat[0]):
            return [("", nir.SumPool2d(**window))]
        scale = (np.float32(1) / np.broadcast_to(divisor, node.shape)).astype(np.float32)
        return [("", nir.SumPool2d(**window)), (".divide", nir.Scale(scale=scale))]

    def nir_scale_after(self, node, scale, in_shape):
        """Sums of spikes (or values) over the input's scale, times the window's count when every
        window has the same."""
        divisor = avgpool_divisor(node, tuple(in_shape[1:]))
        base = np.ones(in_shape[0], np.float32) if scale is None else scale
        if not np.all(divisor == divisor.flat[0]):
            return scale
        return (base / np.float32(divisor.flat[0])).astype(np.float32)

    def lower_event(self, node, ctx):
        # window sums are divided by the count at the end, as the executor does (multiplying by
        # 1/count would round differently)
        divisor = np.broadcast_to(avgpool_divisor(node, ctx.shape(node.inputs[0])[1:]), node.shape)
        size = int(np.prod(node.shape))
        floats = ctx.engine_layout(divisor, node.shape)
        return EventLowering("avgpool", self.geometry(node, ctx), floats, float_work=size, int_work=2 * size)
