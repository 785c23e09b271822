"""Counter-based random numbers for stochastic gradient estimators (NumPy).

A stochastic estimator such as LocalZO needs a fresh random draw z for every (sample, step, neuron)
entry. Drawing from a stateful generator would tie each z to the order in which entries are visited,
so a dense backward pass and a sparse one (which visits only the entries near the threshold) would
see different noise. Here the draws of an entry are a pure function of its identity instead:

- ``entry_key(seed, layer, t, b, j)`` hashes the five integers into one 64-bit key, folding them in
  one at a time with the splitmix64 finaliser (a prefix such as ``(seed, layer, t, b)`` can be
  folded once and reused for every neuron j: ``fold_key(prefix, j)``);
- ``uniform01(key, k)`` is the k-th uniform of the entry, the splitmix64 stream seeded at the key;
- ``draw_z(dist_code, key, k)`` is its k-th unit-variance draw of the law ``dist_code``.

:mod:`eventsim.training.kernels.estimate` holds the Numba twins of these functions; keys and
uniforms are identical bit for bit, z equal up to the rounding of ``log``, ``log1p`` and ``cos``.
Integers are taken modulo 2**64 (a negative int64 wraps to its two's complement).
"""

from __future__ import annotations

import math

import numpy as np

#: Codes of the laws of z, in the order of :data:`DISTS` (module constants so Numba compiles them in).
NORMAL, UNIFORM, LAPLACE = 0, 1, 2
#: The laws z can follow; each is symmetric with unit variance.
DISTS = ("normal", "uniform", "laplace")

#: The splitmix64 increment (2**64 / golden ratio, odd): consecutive counters land far apart.
GAMMA = 0x9E3779B97F4A7C15
#: A second odd increment for the draws of one entry, so the draw counter k and the identity
#: counters of entry_key do not walk the same lattice.
DRAW_GAMMA = 0xD1B54A32D192ED03
#: The multipliers of the splitmix64 finaliser (Stafford's mix 13), a bijection of 64-bit words.
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
#: √3: the uniform law on [−√3, √3] has unit variance.
SQRT3 = 1.7320508075688772
#: 1/√2: the Laplace law of scale 1/√2 has unit variance.
INV_SQRT2 = 0.7071067811865476
#: The largest |z| each law's draw can give, from the extreme uniforms 2**-54 and 1 − 2**-54, with a
#: margin of 1e-9 for the rounding of log, sqrt and cos: entries with |u| ≥ δ·MAX_ABS_Z are never
#: active, so a sparse pass need not draw for them.
MAX_ABS_Z = {
    "normal": (-2.0 * math.log(2.0**-54)) ** 0.5 * (1 + 1e-9),
    "uniform": SQRT3,
    "laplace": -math.log(2.0**-53) * INV_SQRT2 * (1 + 1e-9),
}
TWO_PI = 6.283185307179586
#: 2**-53 and 2**-54: a uniform is m·2**-53 for its 53 high bits m, and 2**-54 when m = 0.
ULP53 = 2.0**-53
HALF_ULP53 = 2.0**-54

_U = np.uint64


def _as_u64(x) -> np.ndarray:
    """Integers (scalars or arrays) as uint64, modulo 2**64; anything else is refused."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"random-number counters must be integers, got dtype {a.dtype}")
    return a.astype(np.uint64)


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser of uint64 words (wrapping arithmetic)."""
    with np.errstate(over="ignore"):  # the products wrap modulo 2**64 on purpose
        z = (z ^ (z >> _U(30))) * _U(MIX1)
        z = (z ^ (z >> _U(27))) * _U(MIX2)
    return z ^ (z >> _U(31))


def fold_key(h, x) -> np.ndarray:
    """Fold the integer ``x`` into the key ``h``: the x-th output of the splitmix64 stream at ``h``.

    Parameters
    ----------
    h : uint64 scalar or array
        The key so far (0 to start).
    x : int scalar or array
        The counter to fold in; broadcast against ``h``.

    Returns
    -------
    numpy.ndarray
        The new uint64 key(s).
    """
    with np.errstate(over="ignore"):
        return mix64(_as_u64(h) + _U(GAMMA) * (_as_u64(x) + _U(1)))


def entry_key(seed, layer, t, b, j) -> np.ndarray:
    """The 64-bit key of entry (layer, t, b, j) under ``seed``; the arguments broadcast.

    Parameters
    ----------
    seed : int
        The estimator's seed.
    layer, t, b, j : int or integer array
        Layer index, time step, sample index in the batch, neuron index (flat within the layer).

    Returns
    -------
    numpy.ndarray
        uint64 keys of the broadcast shape (a uint64 scalar for scalar arguments).
    """
    h = fold_key(_U(0), seed)
    for x in (layer, t, b, j):
        h = fold_key(h, x)
    return h


def uniform01(key, k: int = 0) -> np.ndarray:
    """The k-th uniform draw of each key, in the open interval (0, 1).

    The 53 high bits m of the splitmix64 output give m·2**-53; the single value m = 0 (probability
    2**-53) is moved to 2**-54 so that logarithms of the draw and of its complement stay finite.

    Parameters
    ----------
    key : uint64 scalar or array
        Entry keys from :func:`entry_key`.
    k : int
        Which draw of the entry (0, 1, ...).

    Returns
    -------
    numpy.ndarray
        float64 draws, the shape of ``key``.
    """
    with np.errstate(over="ignore"):
        x = mix64(_as_u64(key) + _U(DRAW_GAMMA) * (_as_u64(k) + _U(1)))
    m = x >> _U(11)
    return np.where(m == 0, HALF_ULP53, m.astype(np.float64) * ULP53)


def draw_z(dist_code: int, key, k: int = 0) -> np.ndarray:
    """The k-th draw z of each key from a symmetric unit-variance law.

    Parameters
    ----------
    dist_code : int
        :data:`NORMAL` (Box–Muller from uniforms 2k and 2k + 1, cosine branch only, so draws stay
        independent), :data:`UNIFORM` (on [−√3, √3]) or :data:`LAPLACE` (scale 1/√2, inverse CDF).
    key : uint64 scalar or array
        Entry keys from :func:`entry_key`.
    k : int
        Which draw of the entry (0, 1, ...).

    Returns
    -------
    numpy.ndarray
        float64 draws, the shape of ``key``.
    """
    if dist_code == NORMAL:
        u1, u2 = uniform01(key, 2 * k), uniform01(key, 2 * k + 1)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(TWO_PI * u2)
    u = uniform01(key, k)
    if dist_code == UNIFORM:
        return SQRT3 * (2.0 * u - 1.0)
    if dist_code == LAPLACE:
        # inverse CDF written on s = u − ½ so both tails use log1p of a small-or-moderate argument
        s = u - 0.5
        return np.copysign(-np.log1p(-2.0 * np.abs(s)) * INV_SQRT2, s)
    raise ValueError(f"unknown dist code {dist_code!r}; expected one of {dict(enumerate(DISTS))}")
