"""Data for small training sets: random image shifts and a stratified held-out split, both
deterministic for a seed."""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def shift_images(x: np.ndarray, max_shift: int, seed: int | tuple[int, ...]) -> np.ndarray:
    """Every image moved by its own random whole-pixel shift, the uncovered border filled with zeros.

    Parameters
    ----------
    x : numpy.ndarray
        Images (N, ..., H, W): the shifts move the last two axes.
    max_shift : int
        Each of the vertical and horizontal shifts is drawn uniformly from −max_shift..max_shift
        (0: ``x`` is returned unchanged).
    seed : int or tuple of int
        Non-negative; the same seed gives the same shifts.

    Returns
    -------
    numpy.ndarray
        A new array of ``x``'s shape and dtype (``x`` itself when ``max_shift`` is 0).
    """
    if max_shift < 0:
        raise ValueError(f"the shift must be ≥ 0 pixels, got {max_shift!r}")
    if max_shift == 0 or len(x) == 0:
        return x
    if x.ndim < 3:
        raise DataError(f"shifting moves images (N, ..., H, W), got inputs of shape {x.shape}")
    s = int(max_shift)
    rng = np.random.default_rng(np.atleast_1d(seed).tolist() + [0x5E1F7])
    shifts = rng.integers(-s, s + 1, size=(len(x), 2))
    pad = [(0, 0)] * (x.ndim - 2) + [(s, s), (s, s)]
    padded = np.pad(x, pad)
    h, w = x.shape[-2:]
    out = np.empty_like(x)
    for dy, dx in {tuple(d) for d in shifts.tolist()}:
        rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
        # the image moves by (dy, dx): output pixel (i, j) reads input (i − dy, j − dx)
        out[rows] = padded[rows, ..., s - dy : s - dy + h, s - dx : s - dx + w]
    return out


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the samples to train on and of those held out, stratified by label.

    Each class gives round(fraction · its count) of its samples (chosen at random for the seed) to
    the held-out part, and keeps at least one to train on. Both index arrays are sorted.

    Parameters
    ----------
    y : numpy.ndarray
        Integer labels (N,).
    fraction : float
        In [0, 1): the share of every class to hold out.
    seed : int
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"the held-out fraction must lie in [0, 1), got {fraction!r}")
    rng = np.random.default_rng([seed, 0x401D])
    held = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        held.append(members[: min(len(members) - 1, int(round(fraction * len(members))))])
    held = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    return np.setdiff1d(np.arange(len(y)), held), held


def mix_inputs(x: np.ndarray, share: float, seed: int | tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mixup's inputs: a share of the samples replaced by convex combinations of two training inputs.

    Sample i, when chosen, becomes λ·x[i] + (1 − λ)·x[j], with a partner j drawn uniformly from all
    the samples and λ uniformly from [0, 1), both afresh for every chosen sample.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs (N, ...).
    share : float
        In [0, 1]: each sample is mixed with this probability (0: ``x`` is returned unchanged).
    seed : int or tuple of int
        Non-negative; the same seed gives the same mixes.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The inputs, of ``x``'s shape and dtype, and the mask (N,) of the mixed ones.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"the share of mixed inputs must lie in [0, 1], got {share!r}")
    if share == 0 or len(x) == 0:
        return x, np.zeros(len(x), bool)
    rng = np.random.default_rng(np.atleast_1d(seed).tolist() + [0x313C])
    mixed = rng.random(len(x)) < share
    partner = rng.integers(0, len(x), len(x))
    lam = rng.random(len(x)).reshape((-1,) + (1,) * (x.ndim - 1))
    out = x.copy()
    out[mixed] = (lam * x + (1 - lam) * x[partner])[mixed].astype(x.dtype)
    return out, mixed
