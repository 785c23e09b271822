"""``floor``: only inside a QCFS chain, which the passes fuse into a ``qcfs`` node."""

from __future__ import annotations

import numpy as np

from .base import OpSpec, register_op


@register_op
class Floor(OpSpec):
    """``y = floor(x)``. Only as part of a QCFS chain: the passes fuse it or refuse the graph."""

    name = "floor"
    role = "transient"
    elementwise = True

    def forward(self, node, xs):
        return np.floor(xs[0])

    def chain_link(self, node):
        return True
