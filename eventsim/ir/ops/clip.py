"""``clip``: clamping to [lo, hi] (ReLU6 and clipped ReLUs are ``clip(0, λ)``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .activation import ActivationOp
from .base import register_op, require

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Node


def clip_node(name: str, source: str, lo: float, hi: float, tensor: str | None = None) -> Node:
    """A node clamping ``source`` to [lo, hi]: a ``relu`` for [0, ∞), else a ``clip``."""
    from ..graph import Node  # here: the graph module imports the ops

    if lo == 0 and hi == math.inf:
        return Node(name, "relu", (source,), source=tensor)
    return Node(name, "clip", (source,), {"lo": lo, "hi": hi}, source=tensor)


@register_op
class Clip(ActivationOp):
    """``y = min(max(x, lo), hi)``; attrs ``lo``, ``hi`` (±inf for no bound).

    ``clip(0, λ)`` (ReLU6, clipped ReLU) gives the firing threshold λ directly; a clip with another
    lower bound is kept for the ANN but is not a spiking activation.
    """

    name = "clip"

    def infer_shape(self, node, in_shapes):
        lo, hi = node.attrs["lo"], node.attrs["hi"]
        require(not (math.isnan(lo) or math.isnan(hi)) and lo <= hi, node, f"needs lo <= hi, got lo={lo}, hi={hi}")
        return in_shapes[0]

    def forward(self, node, xs):
        return np.clip(xs[0], np.float32(node.attrs["lo"]), np.float32(node.attrs["hi"]))

    def chain_link(self, node):
        return True

    def clip_bounds(self, node):
        return (node.attrs["lo"], node.attrs["hi"])

    def bound(self, node):
        lo, hi = node.attrs["lo"], node.attrs["hi"]
        return float(hi) if lo == 0 and math.isfinite(hi) else None

    def spiking_problem(self, node):
        if node.attrs["lo"] == 0:
            return None
        return f"it is clip({node.attrs['lo']:g}, {node.attrs['hi']:g}); a spiking layer needs a lower bound of 0"
