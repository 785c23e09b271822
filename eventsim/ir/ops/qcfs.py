"""``qcfs``: the quantisation-clip-floor-shift activation of Bu et al. (ICLR 2022)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .activation import ActivationOp
from .base import register_op, require

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Node


def qcfs(x: np.ndarray, levels: int, lam: float) -> np.ndarray:
    """``h(z) = λ · floor(L · clip(z / λ, 0, 1) + 1/2) / L``, in float32."""
    lam32 = np.float32(lam)
    z = np.clip(x / lam32, np.float32(0), np.float32(1))
    return np.floor(z * np.float32(levels) + np.float32(0.5)) / np.float32(levels) * lam32


def qcfs_node(name: str, source: str, levels: int, lam: float, tensor: str | None = None) -> Node:
    """A QCFS node of ``levels`` levels up to ``lam`` reading ``source``."""
    from ..graph import Node  # here: the graph module imports the ops

    return Node(name, "qcfs", (source,), {"levels": int(levels), "lam": float(lam)}, source=tensor)


@register_op
class Qcfs(ActivationOp):
    """QCFS activation (see :func:`qcfs`); attrs ``levels`` (L) and ``lam`` (λ, the threshold)."""

    name = "qcfs"

    def infer_shape(self, node, in_shapes):
        require(int(node.attrs["levels"]) >= 1, node, f"levels must be >= 1, got {node.attrs['levels']}")
        require(node.attrs["lam"] > 0, node, f"lam must be > 0, got {node.attrs['lam']}")
        return in_shapes[0]

    def forward(self, node, xs):
        return qcfs(xs[0], node.attrs["levels"], node.attrs["lam"])

    def bound(self, node):
        return float(node.attrs["lam"])

    def levels(self, node):
        return int(node.attrs["levels"])
