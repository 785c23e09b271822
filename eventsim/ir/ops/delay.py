"""``delay``: a synchronous neuron, which holds a spike train back by whole steps."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from .base import OpSpec, register_op, require
from .counting import Count, nbytes
from .lowering import EventLowering

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Node


def delay_node(name: str, source: str, steps: int) -> Node:
    """A node delaying what ``source`` carries in spikes by ``steps`` steps."""
    from ..graph import Node  # here: the graph module imports the ops

    return Node(name, "delay", (source,), {"steps": int(steps)})


@register_op
class Delay(OpSpec):
    """A delay of ``steps`` time steps on what a value carries in spikes (attr ``steps`` ≥ 1).

    The ANN sees the identity. In a spiking network the dynamic part (spikes or the currents made of
    them) arrives ``steps`` later; the static part is constant and unchanged. Synchronous neurons
    (BSNN, TTFS) on residual shortcuts are delays: the conversion inserts them
    (:mod:`eventsim.passes.synchronous`). Each event it relays counts as one synaptic event, whose
    cost is a write and a read of its buffer.
    """

    name = "delay"
    synaptic_events = True

    def infer_shape(self, node, in_shapes):
        steps = node.attrs.get("steps")
        require(isinstance(steps, int) and steps >= 1, node, f"steps must be a whole number ≥ 1, got {steps!r}")
        return in_shapes[0]

    def forward(self, node, xs):
        return xs[0]

    def stage_delay(self, node, period):
        return node.attrs["steps"] // period if period else 0

    def spike_state(self, node, batch, in_shapes):
        return deque(np.zeros((batch,) + node.shape, np.float32) for _ in range(node.attrs["steps"]))

    def spike_step(self, node, dynamic_inputs, state):
        state.append(dynamic_inputs[0].astype(np.float32, copy=True))
        return state.popleft()  # what went in `steps` steps ago

    def spike_steps(self, node, dynamic_inputs, state):
        """All steps at once: the held values followed by the new ones; the first ``steps`` leave."""
        x = dynamic_inputs[0]
        held = np.concatenate([np.stack(list(state)), x.astype(np.float32)])
        state.clear()
        state.extend(held[len(x) :].copy())
        return held[: len(x)]

    def backward(self, node, xs, grad):
        return [np.asarray(grad, np.float32)], {}

    def spike_backward(self, node, dynamic_inputs, grad):
        """A spike that went in at step t came out at t + steps (none of the run's last steps did)."""
        steps, out = node.attrs["steps"], np.zeros_like(grad, dtype=np.float32)
        out[: max(0, len(grad) - steps)] = grad[steps:]
        return [out], {}

    def fanout(self, node, in_shape):
        return np.ones(in_shape, np.int64)

    def snn_counts(self, node, ctx):
        if ctx.events_per_step is None:
            return []  # a delay of a constant holds nothing
        events, memory = float(ctx.events_per_step.sum()), nbytes(node.shape) * node.attrs["steps"]
        return [
            Count("potential_write", events, ctx.events_per_step, memory),
            Count("potential_read", events, ctx.events_per_step, memory),
        ]

    def lower_event(self, node, ctx):
        steps, size = node.attrs["steps"], int(np.prod(node.shape))
        # per slot of the ring: event values; event counts, then event positions
        return EventLowering("delay", (steps,), float_work=steps * size, int_work=steps + steps * size)
