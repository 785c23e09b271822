"""Numba twins of :mod:`eventsim.training.noise` and :meth:`Estimator.grad`: the gradient estimate
G(u) of one entry, for the backward kernels of the trainer.

``estimate(code, params, u, key)`` dispatches on the estimator's code; ``params`` is
:meth:`Estimator.params` (indices ``P_*`` of :mod:`eventsim.training.estimators`) and ``key`` the
entry's ``entry_key`` (ignored by surrogates). Every expression repeats the NumPy twin's operations in
the same order, so surrogates agree to the rounding of ``exp`` and LocalZO's keys and uniforms agree
bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..estimators import (
    ARCTAN,
    FAST_SIGMOID,
    GAUSSIAN,
    LOCALZO,
    P_CUTOFF,
    P_DELTA,
    P_DIST,
    P_SAMPLES,
    P_WIDTH,
    RECTANGLE,
    SIGMOID,
    TRIANGLE,
)
from ..noise import (
    DRAW_GAMMA,
    GAMMA,
    HALF_ULP53,
    INV_SQRT2,
    LAPLACE,
    MIX1,
    MIX2,
    NORMAL,
    SQRT3,
    TWO_PI,
    ULP53,
    UNIFORM,
)

# uint64 constants: Numba turns a mix of uint64 and int64 operands into float64, so every integer
# operand of the hash must already be uint64.
_GAMMA = np.uint64(GAMMA)
_DRAW_GAMMA = np.uint64(DRAW_GAMMA)
_MIX1 = np.uint64(MIX1)
_MIX2 = np.uint64(MIX2)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_INV_SQRT_2PI = 0.3989422804014327
_HALF_PI = 0.5 * math.pi


@njit(cache=True, inline="always")
def mix64(z):
    """The splitmix64 finaliser of a uint64 word (wrapping arithmetic)."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def fold_key(h, x):
    """Fold the integer ``x`` (modulo 2**64) into the uint64 key ``h``."""
    return mix64(np.uint64(h) + _GAMMA * (np.uint64(x) + _ONE))


@njit(cache=True)
def entry_key(seed, layer, t, b, j):
    """The uint64 key of entry (layer, t, b, j) under ``seed``."""
    return fold_key(fold_key(fold_key(fold_key(fold_key(_ZERO, seed), layer), t), b), j)


@njit(cache=True, inline="always")
def uniform01(key, k):
    """The k-th uniform draw of ``key``, in (0, 1): m·2**-53 for the 53 high bits m, 2**-54 if m = 0."""
    m = mix64(np.uint64(key) + _DRAW_GAMMA * (np.uint64(k) + _ONE)) >> _S11
    if m == _ZERO:
        return HALF_ULP53
    return np.float64(m) * ULP53


@njit(cache=True, inline="always")
def draw_z(dist_code, key, k):
    """The k-th unit-variance draw of ``key`` from law ``dist_code`` (normal, uniform or Laplace)."""
    if dist_code == NORMAL:
        u1 = uniform01(key, 2 * k)
        u2 = uniform01(key, 2 * k + 1)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(TWO_PI * u2)
    u = uniform01(key, k)
    if dist_code == UNIFORM:
        return SQRT3 * (2.0 * u - 1.0)
    if dist_code == LAPLACE:
        s = u - 0.5
        return math.copysign(-math.log1p(-2.0 * abs(s)) * INV_SQRT2, s)
    return 0.0  # unreachable: Estimator validates the law (a raise would stop prange loops that inline this)


@njit(cache=True, inline="always")
def _localzo(params, a, key):
    """LocalZO's G at |u| = a: the mean over m draws of |z|·1{a < δ|z|}/(2δ).

    A normal draw's |z| is at most its Box–Muller radius √(−2 ln u₁), which reaches a/δ only when
    u₁ ≤ exp(−y), y = (a/δ)²/2. Most draws of entries in the band fail a cheaper bound first,
    exp(−y) ≤ 1/(1 + y + y²/2); the others are compared with exp(−y). Both carry a margin far above
    the rounding of exp and log, so a skipped draw is one that could not reach a: the result is
    that of drawing every z, without their log, square root and cosine."""
    delta = params[P_DELTA]
    m = int(params[P_SAMPLES])
    dist = int(params[P_DIST])
    ratio = a / delta
    y = 0.5 * ratio * ratio
    loose = (1.0 + 1e-9) / (1.0 + y + 0.5 * y * y) if dist == NORMAL else 2.0
    reach = -1.0  # exp(−y) with margin, computed when first needed
    total = 0.0
    for k in range(m):
        if loose < 1.0:
            u1 = uniform01(key, 2 * k)
            if u1 > loose:
                continue
            if reach < 0.0:
                reach = math.exp(-y) * (1.0 + 1e-9)
            if u1 > reach:
                continue
        az = abs(draw_z(dist, key, k))
        if a < delta * az:
            total += az
    return total / (2.0 * delta * m)


@njit(cache=True, inline="always")
def _surrogate(code, w, a):
    """The surrogate of ``code`` with width ``w`` at |u| = a (float64)."""
    if code == FAST_SIGMOID:
        k = 1.0 / w
        d = 1.0 + k * a
        return 0.5 * k / (d * d)
    if code == ARCTAN:
        alpha = 1.0 / w
        x = (_HALF_PI * alpha) * a
        return 0.5 * alpha / (1.0 + x * x)
    if code == GAUSSIAN:
        x = a / w
        return math.exp(-0.5 * x * x) * _INV_SQRT_2PI / w
    if code == TRIANGLE:
        return max(0.0, 1.0 - a / w) / w
    if code == RECTANGLE:
        return 0.5 / w if a < w else 0.0
    if code == SIGMOID:
        e = math.exp(-(a / w))  # σ'(x) on e = exp(−|x|): no overflow for any u
        return e / ((1.0 + e) * (1.0 + e)) / w
    return 0.0  # unreachable: Estimator validates the code (a raise would stop prange loops that inline this)


@njit(cache=True, inline="always")
def estimate(code, params, u, key):
    """G(u) of one entry as float32.

    Parameters
    ----------
    code : int
        :attr:`Estimator.code`.
    params : float64[:]
        :meth:`Estimator.params`.
    u : float
        u = m − θ of the entry.
    key : uint64
        The entry's ``entry_key``; ignored by surrogates.
    """
    a = abs(np.float64(u))
    if not a < params[P_CUTOFF]:  # also false for NaN: no gradient, as in the NumPy twin
        return np.float32(0.0)
    if code == LOCALZO:
        return np.float32(_localzo(params, a, key))
    return np.float32(_surrogate(code, params[P_WIDTH], a))


@njit(cache=True)
def estimate_many(code, params, u, keys, out):
    """``out[i] = estimate(code, params, u[i], keys[i])`` over 1-D arrays."""
    for i in range(u.shape[0]):
        out[i] = estimate(code, params, u[i], keys[i])
