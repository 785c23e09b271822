"""Gradient estimators: what backpropagation through time uses in place of dS/du.

A spiking neuron fires S = H(u), u = m − θ (membrane before reset minus threshold), whose derivative
is zero almost everywhere. An :class:`Estimator` names the function G(u) the backward pass uses
instead. Surrogates are fixed functions of u; LocalZO (Mukhoty et al., NeurIPS 2023) is a random one
whose expectation is a surrogate. ``docs/training.md`` states every definition.

:meth:`Estimator.grad` is the NumPy reference; the Numba kernel
:func:`eventsim.training.kernels.estimate.estimate` computes the same G for one entry from
:attr:`Estimator.code` and :meth:`Estimator.params` (laid out by the ``P_*`` indices below).
This module does not import Numba.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import noise

#: Estimator names; an estimator's code is its index here.
ESTIMATORS = ("fast_sigmoid", "arctan", "gaussian", "triangle", "rectangle", "sigmoid", "localzo")
#: The deterministic estimators (everything but LocalZO).
SURROGATES = ESTIMATORS[:-1]
FAST_SIGMOID, ARCTAN, GAUSSIAN, TRIANGLE, RECTANGLE, SIGMOID, LOCALZO = range(len(ESTIMATORS))

#: Layout of :meth:`Estimator.params` (float64): width, cutoff (inf: none), δ, m, dist code.
P_WIDTH, P_CUTOFF, P_DELTA, P_SAMPLES, P_DIST = range(5)
N_PARAMS = 5

_DEFAULTS = {"width": 0.5, "cutoff": math.inf, "delta": 0.05, "samples": 1, "dist": "normal", "seed": 0}
_SURROGATE_FIELDS = ("width", "cutoff")
_LOCALZO_FIELDS = ("delta", "samples", "dist", "seed", "cutoff")
_INV_SQRT_2PI = 0.3989422804014327


def _positive(field: str, value, *, finite: bool = True) -> float:
    """``value`` as a float > 0 (finite unless ``finite`` is false), else a ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field} must be a positive number, got {value!r}")
    x = float(value)
    if not x > 0 or (finite and math.isinf(x)):
        what = "a positive finite number" if finite else "a positive number (inf for none)"
        raise ValueError(f"{field} must be {what}, got {value!r}")
    return x


def _integer(field: str, value, low: int, high: float) -> int:
    """``value`` as an int in [low, high), else a ValueError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) < high:
        upper = "" if math.isinf(high) else f" and below {int(high)}"
        raise ValueError(f"{field} must be an integer ≥ {low}{upper}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Estimator:
    """A gradient estimator G(u) for the spike S = H(u).

    Parameters
    ----------
    name : str
        One of :data:`ESTIMATORS`.
    width : float
        Width of a surrogate (membrane units); surrogates only.
    cutoff : float
        G = 0 where |u| ≥ cutoff (the sparse-gradient band of S3GD, cutoff = θ − b_th); inf for none.
    delta : float
        LocalZO's smoothing δ; LocalZO only.
    samples : int
        LocalZO's number m of draws per entry.
    dist : str
        LocalZO's law of z, one of :data:`eventsim.training.noise.DISTS`.
    seed : int
        LocalZO's seed, in [0, 2**63); the trainer passes it to ``entry_key``.

    Fields that do not apply to ``name`` must keep their defaults, so that equal behaviour means
    equal value (and one canonical text, :meth:`spec`).
    """

    name: str
    width: float = 0.5
    cutoff: float = math.inf
    delta: float = 0.05
    samples: int = 1
    dist: str = "normal"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.name not in ESTIMATORS:
            raise ValueError(f"unknown gradient estimator {self.name!r}; expected one of {', '.join(ESTIMATORS)}")
        if self.dist not in noise.DISTS:
            raise ValueError(f"unknown dist {self.dist!r} for LocalZO; expected one of {', '.join(noise.DISTS)}")
        checked = {
            "width": _positive("width", self.width),
            "cutoff": _positive("cutoff", self.cutoff, finite=False),
            "delta": _positive("delta", self.delta),
            "samples": _integer("samples (m)", self.samples, 1, 2**53),
            "seed": _integer("seed", self.seed, 0, 2**63),
        }
        for field, value in checked.items():
            object.__setattr__(self, field, value)  # normalised types: plain float / int
        used = _LOCALZO_FIELDS if self.name == "localzo" else _SURROGATE_FIELDS
        for field, default in _DEFAULTS.items():
            if field not in used and getattr(self, field) != default:
                raise ValueError(f"{field} is not a parameter of {self.name}; leave it at its default {default!r}")

    # --- what the Numba kernel reads -------------------------------------------------------------

    @property
    def code(self) -> int:
        """The estimator's code, its index in :data:`ESTIMATORS`."""
        return ESTIMATORS.index(self.name)

    @property
    def dist_code(self) -> int:
        """The code of LocalZO's law of z, its index in :data:`eventsim.training.noise.DISTS`."""
        return noise.DISTS.index(self.dist)

    def params(self) -> np.ndarray:
        """The float64 parameters of the kernel: [width, cutoff, δ, m, dist code] (``P_*`` indices)."""
        return np.array([self.width, self.cutoff, self.delta, self.samples, self.dist_code], np.float64)

    @property
    def smooth_forward(self) -> bool:
        """True when the forward pass uses S = σ(u/width) instead of H(u) (the ``sigmoid`` check)."""
        return self.name == "sigmoid"

    @property
    def stochastic(self) -> bool:
        """True when G depends on random draws (LocalZO) and so needs entry keys."""
        return self.name == "localzo"

    def band(self) -> float:
        """A bound B with G = 0 wherever |u| ≥ B, for every draw; inf when G has unbounded support.

        Compact surrogates vanish beyond their width, LocalZO beyond δ times the largest |z| its
        generator can draw (:data:`eventsim.training.noise.MAX_ABS_Z`: √3 for uniform z, and the
        normal and Laplace draws of a uniform no smaller than 2**-54 are bounded too), so a sparse
        pass skips the draws of every entry farther from threshold; the cutoff bounds all.
        """
        if self.name in ("triangle", "rectangle"):
            return min(self.width, self.cutoff)
        if self.name == "localzo":
            return min(self.delta * noise.MAX_ABS_Z[self.dist], self.cutoff)
        return self.cutoff

    # --- NumPy reference -------------------------------------------------------------------------

    def grad(self, u: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
        """G(u) as float32, entry by entry: the NumPy twin of the Numba ``estimate``.

        Parameters
        ----------
        u : array_like
            u = m − θ of every entry.
        keys : numpy.ndarray of uint64, optional
            The entries' keys (``noise.entry_key``), the shape of ``u``; required by LocalZO and
            ignored by surrogates.

        Returns
        -------
        numpy.ndarray
            float32 array of the shape of ``u``.
        """
        a = np.abs(np.asarray(u, dtype=np.float64))
        if self.stochastic:
            if keys is None:
                raise ValueError("LocalZO needs the entries' keys (noise.entry_key) to draw z")
            keys = np.asarray(keys)
            if keys.shape != a.shape:
                raise ValueError(f"keys have shape {keys.shape}, u has shape {a.shape}")
            g = self._localzo(a, keys)
        else:
            g = self._surrogate(a)
        # `a < cutoff` is false for NaN too, so a NaN u gets no gradient (as in the kernel)
        return np.where(a < self.cutoff, g, 0.0).astype(np.float32)

    def _surrogate(self, a: np.ndarray) -> np.ndarray:
        """The surrogate at |u| = a, float64, without the cutoff (the kernel's arithmetic, op for op)."""
        w = self.width
        if self.name == "fast_sigmoid":
            k = 1.0 / w
            d = 1.0 + k * a
            return 0.5 * k / (d * d)
        if self.name == "arctan":
            alpha = 1.0 / w
            x = (0.5 * math.pi * alpha) * a
            return 0.5 * alpha / (1.0 + x * x)
        if self.name == "gaussian":
            x = a / w
            return np.exp(-0.5 * x * x) * _INV_SQRT_2PI / w
        if self.name == "triangle":
            return np.maximum(0.0, 1.0 - a / w) / w
        if self.name == "rectangle":
            return np.where(a < w, 0.5 / w, 0.0)
        # sigmoid: σ'(x)/w with x = u/w, written on e = exp(−|x|) so it never overflows
        e = np.exp(-(a / w))
        return e / ((1.0 + e) * (1.0 + e)) / w

    def _localzo(self, a: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """LocalZO's G at |u| = a, float64, without the cutoff."""
        total = np.zeros(a.shape, np.float64)
        for k in range(self.samples):
            az = np.abs(noise.draw_z(self.dist_code, keys, k))
            total = total + np.where(a < self.delta * az, az, 0.0)
        return total / (2.0 * self.delta * self.samples)

    def expected(self, u: np.ndarray) -> np.ndarray:
        """The expectation of G over the draws, in closed form (float64); the surrogate itself for surrogates.

        LocalZO's is the same for every m: normal z gives φ(u/δ)/δ, uniform z max(0, 3 − u²/δ²)/(4√3 δ),
        Laplace z (|u|/δ + 1/√2)·exp(−√2|u|/δ)/(2δ).
        """
        a = np.abs(np.asarray(u, dtype=np.float64))
        if not self.stochastic:
            g = self._surrogate(a)
        else:
            c, d = a / self.delta, self.delta
            if self.dist == "normal":
                g = np.exp(-0.5 * c * c) * _INV_SQRT_2PI / d
            elif self.dist == "uniform":
                # support |u| < δ√3 tested as band() states it, so rounding in c² cannot leave a tail
                g = np.where(a < d * noise.SQRT3, (3.0 - c * c) / (4.0 * noise.SQRT3 * d), 0.0)
            else:
                g = (c + noise.INV_SQRT2) * np.exp(-math.sqrt(2.0) * c) / (2.0 * d)
        return np.where(a < self.cutoff, g, 0.0)

    # --- text ------------------------------------------------------------------------------------

    def spec(self) -> str:
        """The canonical text of the estimator; ``parse_estimator(e.spec()) == e``."""
        if self.stochastic:
            parts = [f"delta={self.delta!r}", f"m={self.samples}", f"dist={self.dist}", f"seed={self.seed}"]
        else:
            parts = [f"width={self.width!r}"]
        if not math.isinf(self.cutoff):
            parts.append(f"cutoff={self.cutoff!r}")
        return f"{self.name}:{','.join(parts)}"

    def __str__(self) -> str:
        return self.spec()


def surrogate(name: str, width: float = 0.5, cutoff: float = math.inf) -> Estimator:
    """A deterministic surrogate estimator (one of :data:`SURROGATES`)."""
    if name == "localzo":
        raise ValueError("localzo is not a surrogate; use localzo(delta=..., samples=..., dist=..., seed=...)")
    return Estimator(name, width=width, cutoff=cutoff)


def localzo(
    delta: float = 0.05, samples: int = 1, dist: str = "normal", seed: int = 0, *, cutoff: float = math.inf
) -> Estimator:
    """The LocalZO estimator with smoothing ``delta``, ``samples`` draws of law ``dist`` per entry."""
    return Estimator("localzo", cutoff=cutoff, delta=delta, samples=samples, dist=dist, seed=seed)


#: Keys a CLI string may give, per kind, and the field each sets.
_TEXT_KEYS = {
    "surrogate": {"width": "width", "cutoff": "cutoff"},
    "localzo": {
        "delta": "delta",
        "m": "samples",
        "samples": "samples",
        "dist": "dist",
        "seed": "seed",
        "cutoff": "cutoff",
    },
}


def _text_value(field: str, raw: str, text: str):
    """The value of ``field`` from its text ``raw`` (of the estimator string ``text``)."""
    if field == "dist":
        return raw
    try:
        return int(raw) if field in ("samples", "seed") else float(raw)
    except ValueError:
        kind = "an integer" if field in ("samples", "seed") else "a number"
        raise ValueError(f"{field} must be {kind}, got {raw!r} in estimator {text!r}") from None


def parse_estimator(text: str) -> Estimator:
    """An estimator from text such as ``"localzo"``, ``"localzo:delta=0.05,m=5,dist=laplace,seed=3"``
    or ``"fast_sigmoid:width=0.3,cutoff=0.2"``; parameters not given keep their defaults.

    Raises
    ------
    ValueError
        For an unknown name or key, a repeated key, a malformed ``key=value`` or an invalid value.
    """
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if name not in ESTIMATORS:
        raise ValueError(f"unknown gradient estimator {name!r} in {text!r}; expected one of {', '.join(ESTIMATORS)}")
    allowed = _TEXT_KEYS["localzo" if name == "localzo" else "surrogate"]
    fields: dict[str, object] = {}
    for item in rest.split(",") if rest.strip() else []:
        key, eq, raw = (s.strip() for s in item.partition("="))
        if not eq or not key or not raw:
            raise ValueError(f"expected key=value, got {item.strip()!r} in estimator {text!r}")
        if key not in allowed:
            raise ValueError(f"{name} has no parameter {key!r} (in {text!r}); its parameters: {', '.join(allowed)}")
        field = allowed[key]
        if field in fields:
            raise ValueError(f"{key!r} given twice in estimator {text!r}")
        fields[field] = _text_value(field, raw, text)
    return Estimator(name, **fields)
