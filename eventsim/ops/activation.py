"""Activation ops, which become spiking neuron layers: ``relu``, ``clip``, ``qcfs``; and the
transient ``floor`` that exists only until the passes fuse a QCFS chain."""

from __future__ import annotations

import math

import numpy as np

from .registry import OpSpec, register_op, require


@register_op
class Relu(OpSpec):
    """``y = max(x, 0)``."""

    name = "relu"
    role = "activation"

    def forward(self, node, xs):
        return np.maximum(xs[0], np.float32(0))


@register_op
class Clip(OpSpec):
    """``y = min(max(x, lo), hi)``; attrs ``lo``, ``hi`` (±inf for no bound).

    ``clip(0, λ)`` (ReLU6, clipped ReLU) gives the firing threshold λ directly; a clip with another
    lower bound is kept for the ANN but is not a spiking activation.
    """

    name = "clip"
    role = "activation"

    def infer_shape(self, node, in_shapes):
        lo, hi = node.attrs["lo"], node.attrs["hi"]
        require(not (math.isnan(lo) or math.isnan(hi)) and lo <= hi, node, f"needs lo <= hi, got lo={lo}, hi={hi}")
        return in_shapes[0]

    def forward(self, node, xs):
        return np.clip(xs[0], np.float32(node.attrs["lo"]), np.float32(node.attrs["hi"]))


def qcfs(x: np.ndarray, levels: int, lam: float) -> np.ndarray:
    """Quantisation-clip-floor-shift activation of Bu et al. (ICLR 2022).

    ``h(z) = λ · floor(L · clip(z / λ, 0, 1) + 1/2) / L``
    """
    lam32 = np.float32(lam)
    z = np.clip(x / lam32, np.float32(0), np.float32(1))
    return np.floor(z * np.float32(levels) + np.float32(0.5)) / np.float32(levels) * lam32


@register_op
class Qcfs(OpSpec):
    """QCFS activation (see :func:`qcfs`); attrs ``levels`` (L) and ``lam`` (λ, the threshold)."""

    name = "qcfs"
    role = "activation"

    def infer_shape(self, node, in_shapes):
        require(int(node.attrs["levels"]) >= 1, node, f"levels must be >= 1, got {node.attrs['levels']}")
        require(node.attrs["lam"] > 0, node, f"lam must be > 0, got {node.attrs['lam']}")
        return in_shapes[0]

    def forward(self, node, xs):
        return qcfs(xs[0], node.attrs["levels"], node.attrs["lam"])


@register_op
class Floor(OpSpec):
    """``y = floor(x)``. Only as part of a QCFS chain: the passes fuse it or refuse the graph."""

    name = "floor"
    role = "transient"

    def forward(self, node, xs):
        return np.floor(xs[0])
