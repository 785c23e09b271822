"""``relu``: the rectifier, ``max(x, 0)``."""

from __future__ import annotations

import math

import numpy as np

from .activation import ActivationOp
from .base import register_op


@register_op
class Relu(ActivationOp):
    """``y = max(x, 0)``."""

    name = "relu"

    def forward(self, node, xs):
        return np.maximum(xs[0], np.float32(0))

    def chain_link(self, node):
        return True

    def clip_bounds(self, node):
        return (0.0, math.inf)
