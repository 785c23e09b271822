"""What the activations (``relu``, ``clip``, ``qcfs``) share: each becomes a layer of spiking neurons.

An activation node's value in a spiking network is the spike train of its neurons (the neuron kind
decides how they integrate and fire, :mod:`eventsim.snn.kinds`). Its op says what conversion needs to
know of it: the upper bound the model itself gives its output (a natural firing threshold), and
whether it can be a spiking layer at all (its output must start at 0).
"""

from __future__ import annotations

import numpy as np

from .base import OpSpec
from .counting import Count


class ActivationOp(OpSpec):
    """Base of the ops that become neuron layers: element-wise, monotone non-decreasing."""

    role = "activation"
    elementwise = True
    monotone = True

    def bound(self, node) -> float | None:
        """λ if the activation's output is bounded by the model itself (clip(0, λ), QCFS), else None."""
        return None

    def levels(self, node) -> int | None:
        """L if the activation is quantised to L levels up to its bound (QCFS), else None."""
        return None

    def as_nondecreasing_map(self, node, shape):
        """Every activation is element-wise and non-decreasing, and its attributes fit any shape."""
        return node.copy()

    def spiking_problem(self, node) -> str | None:
        """Why the node cannot be a layer of spiking neurons, or None if it can."""
        return None

    def ann_counts(self, node, graph):
        return [Count("neuron_update", int(np.prod(node.shape)))]
