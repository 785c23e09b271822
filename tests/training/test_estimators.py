"""Gradient estimators (``eventsim.training.estimators``), their counter-based noise
(``eventsim.training.noise``) and the Numba twins of both (``eventsim.training.kernels.estimate``).

The oracles are written here from the definitions, independently of the code under test: the
surrogates' formulas, the laws of z through their densities and distribution functions, LocalZO's
expectation as a quadrature of |z|·1{|z| > |u|/δ} against the density of z, and the probability that
an entry gets a gradient, 1 − P(|z| ≤ |u|/δ)^m. Monte-Carlo checks use fixed seeds and a tolerance of
five standard errors, so they are deterministic.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.training import noise
from eventsim.training.estimators import (
    ESTIMATORS,
    N_PARAMS,
    P_CUTOFF,
    P_DELTA,
    P_DIST,
    P_SAMPLES,
    P_WIDTH,
    SURROGATES,
    Estimator,
    localzo,
    parse_estimator,
    surrogate,
)
from eventsim.training.kernels import estimate as kern

DISTS = noise.DISTS
SQRT2 = math.sqrt(2.0)

# --- oracles, from the definitions ------------------------------------------------------------------


def _phi(x):
    return np.exp(-0.5 * np.square(x)) / math.sqrt(2.0 * math.pi)


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


#: G(u) of each surrogate with width w, as the definitions state it (no cutoff).
SURROGATE_ORACLE = {
    "fast_sigmoid": lambda u, w: (0.5 / w) / (1.0 + np.abs(u) / w) ** 2,
    "arctan": lambda u, w: (0.5 / w) / (1.0 + (math.pi * u / (2.0 * w)) ** 2),
    "gaussian": lambda u, w: _phi(u / w) / w,
    "triangle": lambda u, w: np.maximum(0.0, 1.0 - np.abs(u) / w) / w,
    "rectangle": lambda u, w: (np.abs(u) < w) / (2.0 * w),
    "sigmoid": lambda u, w: _logistic(u / w) * (1.0 - _logistic(u / w)) / w,
}

#: Density, distribution function and support bound of each law of z (unit variance).
Z_PDF = {
    "normal": _phi,
    "uniform": lambda z: (np.abs(z) <= math.sqrt(3.0)) / (2.0 * math.sqrt(3.0)),
    "laplace": lambda z: np.exp(-SQRT2 * np.abs(z)) / SQRT2,  # scale b = 1/√2: e^{−|z|/b}/(2b)
}
Z_CDF = {
    "normal": lambda z: 0.5 * (1.0 + np.vectorize(math.erf)(z / SQRT2)),
    "uniform": lambda z: np.clip((z + math.sqrt(3.0)) / (2.0 * math.sqrt(3.0)), 0.0, 1.0),
    "laplace": lambda z: np.where(z < 0, 0.5 * np.exp(SQRT2 * z), 1.0 - 0.5 * np.exp(-SQRT2 * np.minimum(z, 700))),
}
Z_BOUND = {"normal": math.inf, "uniform": math.sqrt(3.0), "laplace": math.inf}


def p_abs_below(dist: str, c):
    """P(|z| ≤ c) for c ≥ 0."""
    return Z_CDF[dist](c) - Z_CDF[dist](-c)


def _midpoint(f, lo: float, hi: float, scale: float, n: int = 200_000) -> float:
    """∫ f over [lo, hi] (one end may be infinite) by the midpoint rule, which never evaluates f at
    the ends, where the integrands jump; an infinite piece is mapped by x = end ± scale·sinh(s), s ≤ 20."""
    s = (np.arange(n) + 0.5) / n
    if math.isinf(lo) or math.isinf(hi):
        s = 20.0 * s
        x = hi - scale * np.sinh(s) if math.isinf(lo) else lo + scale * np.sinh(s)
        return float(np.sum(f(x) * scale * np.cosh(s)) * 20.0 / n)
    return float(np.sum(f(lo + (hi - lo) * s)) * (hi - lo) / n)


def integral(f, breaks, scale: float) -> tuple[float, float]:
    """∫ f over the real line, split at ``breaks`` (kinks and jumps, 0 among them); returns (value, tolerance).

    Adaptive quadrature with SciPy; without SciPy, the midpoint rule on every piece, with a looser tolerance.
    """
    edges = [-math.inf, *sorted(set(breaks)), math.inf]
    try:
        from scipy.integrate import quad
    except ImportError:
        return sum(_midpoint(f, lo, hi, scale) for lo, hi in zip(edges, edges[1:])), 1e-5
    total = sum(quad(lambda x: float(f(np.float64(x))), lo, hi, limit=200)[0] for lo, hi in zip(edges, edges[1:]))
    return total, 1e-8


def localzo_expectation_oracle(dist: str, delta: float, u: float) -> tuple[float, float]:
    """E[|z|·1{|u| < δ|z|}]/(2δ) by quadrature against the density of z; (value, relative tolerance)."""
    c = abs(u) / delta
    if c >= Z_BOUND[dist]:
        return 0.0, 0.0
    ends = [] if math.isinf(Z_BOUND[dist]) else [-Z_BOUND[dist], Z_BOUND[dist]]  # the density's jumps
    value, tol = integral(lambda z: np.abs(z) * Z_PDF[dist](z) * (np.abs(z) > c), [-c, c, 0.0, *ends], 1.0)
    return value / (2.0 * delta), max(tol, 1e-7)


# --- strategies and helpers ---------------------------------------------------------------------------

cutoffs = st.one_of(st.just(math.inf), st.floats(0.01, 5.0))
surrogates = st.builds(surrogate, st.sampled_from(SURROGATES), width=st.floats(0.01, 5.0), cutoff=cutoffs)
localzos = st.builds(
    localzo,
    delta=st.floats(0.001, 1.0),
    samples=st.integers(1, 6),
    dist=st.sampled_from(DISTS),
    seed=st.integers(0, 2**63 - 1),
    cutoff=cutoffs,
)
estimators = st.one_of(surrogates, localzos)


def scale_of(e: Estimator) -> float:
    return e.delta if e.stochastic else e.width


def numba_grad(e: Estimator, u: np.ndarray, keys: np.ndarray) -> np.ndarray:
    out = np.empty(u.size, np.float32)
    kern.estimate_many(e.code, e.params(), np.ascontiguousarray(u.ravel()), np.ascontiguousarray(keys.ravel()), out)
    return out.reshape(u.shape)


def grid_keys(seed: int, rows: int, n: int) -> np.ndarray:
    """Keys of a (rows, n) block of entries: one row per sample b, n neurons."""
    return noise.entry_key(seed, 0, 0, np.arange(rows)[:, None], np.arange(n)[None, :])


# --- noise ------------------------------------------------------------------------------------------

ints64 = st.integers(0, 2**63 - 1)
small = st.integers(0, 2**31 - 1)


@settings(max_examples=examples(100))
@given(seed=ints64, layer=small, t=small, b=small, j=st.integers(-(2**63), 2**63 - 1), k=st.integers(0, 50))
def test_numba_noise_equals_numpy(seed, layer, t, b, j, k):
    """Keys and uniforms are identical bits in NumPy and Numba; z agrees to the rounding of log/cos."""
    key_np = noise.entry_key(seed, layer, t, b, j)
    key_nb = kern.entry_key(seed, layer, t, b, j)
    assert key_np.dtype == np.uint64 and int(key_np) == int(key_nb)
    assert noise.uniform01(key_np, k) == kern.uniform01(key_np, k)
    for code in range(len(DISTS)):
        assert math.isclose(
            float(noise.draw_z(code, key_np, k)), kern.draw_z(code, key_np, k), rel_tol=1e-12, abs_tol=1e-12
        )


def test_keys_depend_only_on_the_entry():
    """A dense pass over a grid and a sparse pass over some entries (any order) draw the same keys and z;
    a key folded from a hoisted (seed, layer, t, b) prefix is the same key."""
    seed, layer, T, B, N = 12345, 3, 4, 5, 64
    dense = noise.entry_key(seed, layer, np.arange(T)[:, None, None], np.arange(B)[None, :, None], np.arange(N))
    rng = np.random.default_rng(0)
    picks = rng.integers(0, [T, B, N], size=(40, 3))
    sparse = noise.entry_key(seed, layer, picks[:, 0], picks[:, 1], picks[:, 2])
    np.testing.assert_array_equal(sparse, dense[picks[:, 0], picks[:, 1], picks[:, 2]])
    for (t, b, j), key in zip(picks, sparse):
        assert kern.entry_key(seed, layer, t, b, j) == key
        prefix = noise.fold_key(noise.fold_key(noise.fold_key(noise.fold_key(np.uint64(0), seed), layer), t), b)
        assert noise.fold_key(prefix, j) == key
    np.testing.assert_array_equal(
        noise.draw_z(noise.NORMAL, sparse, 2), noise.draw_z(noise.NORMAL, dense, 2)[tuple(picks.T)]
    )
    assert len(np.unique(dense)) == dense.size  # no collisions in a small block


def test_noise_refuses_non_integers():
    with pytest.raises(TypeError, match="integers"):
        noise.entry_key(0, 0, 0, 0, np.array([0.5]))
    with pytest.raises(ValueError, match="unknown dist code"):
        noise.draw_z(7, np.uint64(1))


def _ks_statistic(sample: np.ndarray, cdf) -> float:
    """Kolmogorov–Smirnov distance between the empirical law of ``sample`` and ``cdf``."""
    x = np.sort(sample)
    f = cdf(x)
    n = len(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


@pytest.mark.parametrize("dist", DISTS)
def test_draws_follow_their_law(dist):
    """Over many entries z has the stated law (KS at the 0.1 % level), mean 0 and variance 1; the draws
    k = 0, 1 of an entry and the draws of neighbouring entries are uncorrelated."""
    n = 200_000
    keys = noise.entry_key(7, 1, 2, 3, np.arange(n))
    z0, z1 = noise.draw_z(DISTS.index(dist), keys, 0), noise.draw_z(DISTS.index(dist), keys, 1)
    assert _ks_statistic(z0, Z_CDF[dist]) < 1.95 / math.sqrt(n)
    assert abs(z0.mean()) < 5 / math.sqrt(n)
    assert abs(z0.var() - 1.0) < 5 * math.sqrt((np.mean(z0**4) - 1.0) / n)
    for a, b in ((z0, z1), (z0[:-1], z0[1:])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(n)


def test_uniforms_are_in_the_open_unit_interval():
    n = 200_000
    u = noise.uniform01(noise.entry_key(0, 0, 0, 0, np.arange(n)), 3)
    assert u.dtype == np.float64 and np.all((u > 0) & (u < 1))
    assert _ks_statistic(u, lambda x: x) < 1.95 / math.sqrt(n)
    assert len(np.unique(u)) == n  # 53-bit resolution: no repeats in a small sample


# --- estimators: definitions and normalisation --------------------------------------------------------


@pytest.mark.parametrize("name", SURROGATES)
@pytest.mark.parametrize("width", [0.05, 0.5, 2.0])
def test_surrogates_match_their_definitions_and_integrate_to_one(name, width):
    e = surrogate(name, width)
    u = np.linspace(-6 * width, 6 * width, 1201)
    np.testing.assert_allclose(e.expected(u), SURROGATE_ORACLE[name](u, width), rtol=1e-12, atol=0)
    np.testing.assert_allclose(e.grad(u), SURROGATE_ORACLE[name](u, width).astype(np.float32), rtol=1e-6, atol=0)
    assert e.grad(u).dtype == np.float32
    band = e.band()
    breaks = [0.0] if math.isinf(band) else [-band, 0.0, band]
    value, tol = integral(e.expected, breaks, width)
    assert value == pytest.approx(1.0, abs=tol)


@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("delta", [0.01, 0.05, 0.3])
def test_localzo_expectation_is_the_quadrature_and_integrates_to_one(dist, delta):
    e = localzo(delta, dist=dist)
    for u in delta * np.array([0.0, 0.1, 0.5, 1.0, 1.7, 2.5, 4.0]):
        oracle, rel = localzo_expectation_oracle(dist, delta, u)
        assert e.expected(np.float64(u)) == pytest.approx(oracle, rel=rel, abs=1e-12)
    bound = delta * Z_BOUND[dist]
    breaks = [0.0] if math.isinf(bound) else [-bound, 0.0, bound]
    value, tol = integral(e.expected, breaks, delta)
    assert value == pytest.approx(1.0, abs=tol)


def _localzo_sample(dist: str, m: int, n: int = 200_000):
    """G at six values of u/δ, n independent entries each: (estimator, u, G of shape (6, n))."""
    e = localzo(0.05, samples=m, dist=dist, seed=2024 + m)
    u = e.delta * np.array([0.0, 0.25, 0.7, 1.2, 1.6, 2.5])
    keys = grid_keys(e.seed, len(u), n)
    return e, u, e.grad(np.broadcast_to(u[:, None], keys.shape), keys)


@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("dist", DISTS)
def test_localzo_monte_carlo_mean_and_active_fraction(dist, m):
    """The mean of G over many keys approaches the closed-form expectation (within five standard errors),
    and the fraction of entries with G ≠ 0 is 1 − P(|z| ≤ |u|/δ)^m."""
    e, u, g = _localzo_sample(dist, m)
    n = g.shape[1]
    mean, se = g.mean(axis=1, dtype=np.float64), g.std(axis=1, dtype=np.float64) / math.sqrt(n)
    np.testing.assert_array_less(np.abs(mean - e.expected(u)), 5 * se + 1e-6 * e.expected(u) + 1e-12)
    active = np.mean(g != 0, axis=1)
    p = 1.0 - p_abs_below(dist, np.abs(u) / e.delta) ** m
    np.testing.assert_array_less(np.abs(active - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-12)


# --- the Numba kernel against its NumPy twin -----------------------------------------------------------


@settings(max_examples=examples(60))
@given(e=estimators, seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.float32, np.float64]))
def test_numba_estimate_equals_numpy_grad(e, seed, dtype):
    rng = np.random.default_rng(seed)
    n = 400
    u = (scale_of(e) * rng.normal(0.0, 1.5, n)).astype(dtype)
    u[:3] = [0.0, -0.0, e.band() if math.isfinite(e.band()) else 1e30]
    ids = rng.integers(0, 2**31, size=(4, n))
    keys = noise.entry_key(e.seed, *ids)
    keys_nb = np.array([kern.entry_key(e.seed, *ids[:, i]) for i in range(n)], np.uint64)
    np.testing.assert_array_equal(keys_nb, keys)
    g = e.grad(u, keys)
    assert g.dtype == np.float32 and g.shape == u.shape
    np.testing.assert_allclose(numba_grad(e, u, keys_nb), g, rtol=1e-6, atol=1e-37)
    assert float(kern.estimate(e.code, e.params(), u[5], keys[5])) == pytest.approx(float(g[5]), rel=1e-6, abs=1e-37)


def test_params_layout():
    p = localzo(0.07, samples=3, dist="laplace", seed=9, cutoff=0.2).params()
    assert p.dtype == np.float64 and p.shape == (N_PARAMS,)
    assert (p[P_DELTA], p[P_SAMPLES], p[P_DIST], p[P_CUTOFF]) == (0.07, 3, DISTS.index("laplace"), 0.2)
    q = surrogate("triangle", 0.3).params()
    assert q[P_WIDTH] == 0.3 and math.isinf(q[P_CUTOFF])
    assert [Estimator(name).code for name in ESTIMATORS] == list(range(len(ESTIMATORS)))


# --- seeds, sigmoid, cutoff and band -----------------------------------------------------------------


@pytest.mark.parametrize("dist", DISTS)
def test_same_seed_same_gradient_different_seed_different(dist):
    u = np.full((4, 2000), 0.01)
    a, b, c = (localzo(0.05, 2, dist, seed) for seed in (5, 5, 6))
    ga, gb, gc = a.grad(u, grid_keys(5, 4, 2000)), b.grad(u, grid_keys(5, 4, 2000)), c.grad(u, grid_keys(6, 4, 2000))
    np.testing.assert_array_equal(ga, gb)
    assert np.mean(ga != gc) > 0.5


@pytest.mark.parametrize("width", [0.1, 0.5, 3.0])
def test_sigmoid_is_the_derivative_of_its_smooth_forward(width):
    e = surrogate("sigmoid", width)
    assert e.smooth_forward and not any(surrogate(n).smooth_forward for n in SURROGATES if n != "sigmoid")
    assert not localzo().smooth_forward
    u = np.linspace(-8 * width, 8 * width, 801)
    h = 1e-5 * width
    fd = (_logistic((u + h) / width) - _logistic((u - h) / width)) / (2 * h)
    np.testing.assert_allclose(e.grad(u), fd, rtol=1e-6, atol=1e-9 / width)


@settings(max_examples=examples(100))
@given(e=estimators, beyond=st.lists(st.floats(0.0, 1e3), min_size=1, max_size=20), seed=st.integers(0, 2**31))
def test_band_is_a_true_bound(e, beyond, seed):
    """No entry has G ≠ 0 at |u| ≥ band(), in either implementation; a finite cutoff caps the band."""
    band = e.band()
    assert band <= e.cutoff
    if math.isinf(band):
        return
    u = np.concatenate([[band, np.nextafter(band, np.inf)], band * (1.0 + np.asarray(beyond))])
    u = np.concatenate([u, -u])
    keys = noise.entry_key(e.seed, 0, 0, seed, np.arange(u.size))
    assert not np.any(e.grad(u, keys)) and not np.any(numba_grad(e, u, keys))
    if e.name != "localzo" or e.dist == "uniform":  # normal and Laplace expectations have unbounded support
        assert not np.any(e.expected(u))


@pytest.mark.parametrize("e", [surrogate("fast_sigmoid", 0.5, cutoff=0.2), localzo(0.5, 4, "laplace", cutoff=0.2)])
def test_cutoff_zeroes_the_gradient_outside_its_band(e):
    """S3GD's band |u| < θ − b_th: G unchanged inside, 0 outside."""
    u = np.linspace(-1, 1, 2001)
    keys = noise.entry_key(1, 0, 0, 0, np.arange(u.size))
    full = Estimator(e.name, e.width, math.inf, e.delta, e.samples, e.dist, e.seed).grad(u, keys)
    g = e.grad(u, keys)
    inside = np.abs(u) < 0.2
    np.testing.assert_array_equal(g[inside], full[inside])
    assert np.all(g[~inside] == 0) and np.mean(g[inside] > 0) > 0.9
    assert e.band() == 0.2
    np.testing.assert_array_equal(numba_grad(e, u, keys) != 0, g != 0)


def test_localzo_bands_and_unbounded_surrogates():
    """LocalZO's band is δ times the largest |z| the generator can draw: for normal (Box–Muller) and
    Laplace (inverse CDF) z, the draws of the extreme uniforms 2**-54 and 1 − 2**-54."""
    assert localzo(0.1, dist="uniform").band() == pytest.approx(0.1 * math.sqrt(3))
    extreme = max(math.sqrt(-2.0 * math.log(2.0**-54)), 1.0)
    assert localzo(0.1, dist="normal").band() == pytest.approx(0.1 * extreme) and 0.1 * extreme <= 0.1 * 8.6522
    assert localzo(0.1, dist="normal").band() >= 0.1 * extreme
    laplace = -math.log1p(-2.0 * (0.5 - 2.0**-54)) / math.sqrt(2.0)
    assert localzo(0.1, dist="laplace").band() >= 0.1 * laplace
    assert localzo(0.1, dist="laplace").band() == pytest.approx(0.1 * laplace)
    assert surrogate("rectangle", 0.4).band() == 0.4 and math.isinf(surrogate("gaussian").band())


# --- text, validation, imports -------------------------------------------------------------------------


@settings(max_examples=examples(100))
@given(e=estimators)
def test_parse_round_trips(e):
    assert parse_estimator(e.spec()) == e
    assert parse_estimator(str(e)) == e


@pytest.mark.parametrize(
    "text, expected",
    [
        ("localzo", localzo()),
        (" localzo : delta=0.05, m=5, dist=laplace, seed=3 ", localzo(0.05, 5, "laplace", 3)),
        ("localzo:samples=2,cutoff=0.2", localzo(samples=2, cutoff=0.2)),
        ("fast_sigmoid:width=0.3,cutoff=0.2", surrogate("fast_sigmoid", 0.3, 0.2)),
        ("arctan", surrogate("arctan")),
        ("sigmoid:width=1", surrogate("sigmoid", 1.0)),
    ],
)
def test_parse_examples(text, expected):
    assert parse_estimator(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("nope", "unknown gradient estimator 'nope'"),
        ("", "unknown gradient estimator ''"),
        ("localzo:width=1", "localzo has no parameter 'width'"),
        ("fast_sigmoid:delta=0.1", "fast_sigmoid has no parameter 'delta'"),
        ("localzo:m=0", r"samples \(m\) must be an integer ≥ 1"),
        ("localzo:m=2.5", "samples must be an integer, got '2.5'"),
        ("localzo:dist=cauchy", "unknown dist 'cauchy'"),
        ("localzo:seed=-1", "seed must be an integer ≥ 0"),
        ("localzo:delta=inf", "delta must be a positive finite number"),
        ("fast_sigmoid:width=-1", "width must be a positive finite number"),
        ("gaussian:width=nan", "width must be a positive finite number"),
        ("gaussian:cutoff=0", "cutoff must be a positive number"),
        ("fast_sigmoid:width=abc", "width must be a number, got 'abc'"),
        ("fast_sigmoid:width", "expected key=value"),
        ("fast_sigmoid:width=0.3,,", "expected key=value"),
        ("fast_sigmoid:width=0.3,width=0.4", "'width' given twice"),
    ],
)
def test_parse_refuses_bad_text(text, message):
    with pytest.raises(ValueError, match=message):
        parse_estimator(text)


def test_constructor_validation():
    with pytest.raises(ValueError, match="width is not a parameter of localzo"):
        Estimator("localzo", width=0.3)
    with pytest.raises(ValueError, match="seed is not a parameter of gaussian"):
        Estimator("gaussian", seed=4)
    with pytest.raises(ValueError, match="localzo is not a surrogate"):
        surrogate("localzo")
    with pytest.raises(ValueError, match="unknown gradient estimator"):
        surrogate("relu")
    with pytest.raises(ValueError, match=r"samples \(m\) must be an integer"):
        localzo(samples=2.0)
    with pytest.raises(ValueError, match="needs the entries' keys"):
        localzo().grad(np.zeros(3))
    with pytest.raises(ValueError, match="keys have shape"):
        localzo().grad(np.zeros(3), np.zeros(2, np.uint64))
    e = localzo(np.float32(0.25), np.int64(3), seed=np.int64(2))
    assert type(e.delta) is float and type(e.samples) is int and type(e.seed) is int and e.delta == 0.25


def test_importing_estimators_loads_no_numba():
    code = "import sys, eventsim.training.estimators, eventsim.training.noise; print('numba' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
