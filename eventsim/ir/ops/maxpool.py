"""``maxpool``: max pooling; on spikes it acts on cumulative counts."""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError
from .base import register_op
from .counting import Count, computed_once
from .lowering import EventLowering
from .pooling import PoolOp
from .windows import padded_windows, unwindow


@register_op
class MaxPool(PoolOp):
    """Max pooling (padding never wins). Attrs ``kernel``, ``stride``, ``pads`` (t, l, b, r),
    ``dilation``, ``ceil_mode``.

    On spikes it acts on cumulative counts: ``C_out(t) = max_{j ∈ window} C_j(t)`` of the summed
    input, and the pool emits the growth of ``C_out`` as its event. That has no event-driven form when
    the input also has a static part, so such a pool is refused; the passes move max pooling behind
    the activation, where its input is spikes alone.
    """

    name = "maxpool"

    def forward(self, node, xs):
        return self.reduce(node, xs[0], -np.inf, np.maximum)

    def commutes_with(self, node, following):
        """maxpool → f equals f → maxpool for a monotone non-decreasing f: max pooling acts on spikes."""
        return following.spec.monotone

    def commutes_with_nondecreasing(self, node, in_shape):
        """``f(max_window(x)) = max_window(f(x))`` for a non-decreasing element-wise ``f``, as long as
        every window holds data: the −∞ padding never wins either way, but a window of padding alone
        would give −∞ after the pool and ``f(−∞)`` before it."""
        return not self.has_padding_only_windows(node, in_shape)

    def affine_after(self, node, affine, scale, shift):
        """A per-channel affine with positive scales commutes with max pooling (the maxima of
        ``s·x + c`` are ``s·max(x) + c`` for s > 0; padding never wins either way), so it moves
        behind the pool and the pool acts on spikes. Any other scale is refused: a negative one turns
        maxima into minima, and a max pool after the affine would receive a constant (its shift)
        with the spikes, which has no event-driven form."""
        if np.all(scale > 0):
            return scale, shift
        channels = np.flatnonzero(~(scale > 0)).tolist()
        raise UnsupportedError(
            f"affine {affine.name!r} (a BatchNorm or scaling, from {affine.source!r}) scales channels "
            f"{channels[:8]}{' …' if len(channels) > 8 else ''} by a negative or zero factor before max pool "
            f"{node.name!r}: max pooling does not commute with it, and a max pool cannot take spikes and "
            "the affine's constant at once",
            "make the scale positive (a BatchNorm's gamma > 0), or put the BatchNorm before the activation, "
            "where it folds into the conv",
        )

    def as_average(self, node):
        """The average pool over the same windows (padding not counted, as it never wins a max)."""
        return node.copy(op="avgpool", attrs=dict(node.attrs, count_include_pad=False))

    def shared_static(self, node, inputs, dynamic):
        if not dynamic:
            return super().shared_static(node, inputs, dynamic)
        if inputs[0] is None or np.any(inputs[0] != 0):
            raise UnsupportedError(
                f"max pool {node.name!r} receives spikes and a constant input (a bias or the direct-coded "
                "input) at once, which has no event-driven form",
                "put the max pool directly after an activation",
            )
        return np.zeros((1,) + node.shape, np.float32)

    def spike_state(self, node, batch, in_shapes):
        # the cumulative input, and its pooled value up to the previous step
        return [np.zeros((batch,) + in_shapes[0], np.float32), np.zeros((batch,) + node.shape, np.float32)]

    def spike_step(self, node, dynamic_inputs, state):
        cumulative, previous = state
        cumulative += dynamic_inputs[0]
        pooled = self.forward(node, [cumulative])
        state[1] = pooled
        return pooled - previous

    def spike_steps(self, node, dynamic_inputs, state):
        """All steps at once: running sums over the steps (in step order, as :meth:`spike_step`
        adds), one pooling of all of them, and the growth from step to step."""
        cumulative, previous = state
        x = dynamic_inputs[0]
        steps, n = x.shape[:2]
        running = np.empty(x.shape, np.float32)
        for t in range(steps):  # a loop of whole-array adds: faster than add.accumulate on axis 0
            cumulative = running[t] = cumulative + x[t]
        state[0] = cumulative.copy()
        pooled = self.forward(node, [running.reshape((steps * n,) + x.shape[2:])])
        pooled = pooled.reshape((steps, n) + tuple(node.shape))
        state[1] = pooled[-1].copy()
        return np.diff(pooled, axis=0, prepend=previous[None])

    def work_bytes(self, node, in_shapes):
        return 8 * int(np.prod(in_shapes[0])) + 8 * int(np.prod(node.shape))  # running sums, pooled

    def backward(self, node, xs, grad):
        """The gradient of a window goes to its winner (the first of equal maxima, padding never)."""
        a, x = node.attrs, xs[0]
        cols = padded_windows(x, a["kernel"], a["stride"], a["pads"], a["dilation"], grad.shape[2:], -np.inf)
        flat = cols.reshape(cols.shape[:4] + (-1,))
        winner = flat.argmax(axis=-1)[..., None] == np.arange(flat.shape[-1])
        routed = (winner * np.asarray(grad, np.float32)[..., None]).reshape(cols.shape)
        return [unwindow(routed, x.shape[2:], a["kernel"], a["stride"], a["pads"], a["dilation"])], {}

    def spike_backward(self, node, dynamic_inputs, grad):
        """On cumulative counts C (a run from its start): the output in step t is P(t) − P(t−1) with
        P(t) the pooled C(t), so P(t) gets g(t) − g(t+1), which goes to the winner of each window in
        C(t), and an input spike in step t reaches C(τ) for every τ ≥ t (a reverse running sum)."""
        x = dynamic_inputs[0]
        steps, n = x.shape[:2]
        running = np.cumsum(x, axis=0, dtype=np.float32)
        grad = np.asarray(grad, np.float32)
        grad_pooled = grad - np.concatenate([grad[1:], np.zeros_like(grad[:1])])
        rows = (steps * n,) + x.shape[2:]
        (grad_running,), _ = self.backward(
            node, [running.reshape(rows)], grad_pooled.reshape((steps * n,) + grad.shape[2:])
        )
        grad_running = grad_running.reshape(x.shape)
        return [np.cumsum(grad_running[::-1], axis=0, dtype=np.float32)[::-1]], {}

    def snn_counts(self, node, ctx):
        if ctx.once_per_sample:
            return computed_once(ctx, "add", self.products(node, ctx.in_shapes), None, node.shape)
        if ctx.input_spikes is None:
            return []  # fed through a reshape or concat: no per-position counts (documented as not counted)
        # one comparison per in-bounds window position of each incoming spike; only the total is known
        return [Count("add", float((ctx.input_spikes * self.fanout(node, ctx.in_shapes[0])).sum()))]

    def lower_event(self, node, ctx):
        size, src = int(np.prod(node.shape)), int(np.prod(ctx.shape(node.inputs[0])))
        # cumulative input and pooled value; touched flags and list
        return EventLowering("maxpool", self.geometry(node, ctx), float_work=src + size, int_work=2 * size)
