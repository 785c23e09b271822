"""Input coding: how the analog input becomes the network's input in each time step.

- ``direct``: the (normalised) analog input is the first layer's input in every step; the layers
  it feeds compute their current once per sample (multiply-accumulates, not synaptic events).
- ``rate``: in every step each input element spikes with probability equal to its value, which
  must lie in [0, 1] (pixel intensities); a spike has amplitude 1 before the input normalisation.
  The spikes of sample ``i`` come from ``numpy.random.default_rng([seed, i])``, so they do not depend
  on the batch size and are the same in both engines.
- ``ttfs``: time to first spike; each input element x in [0, 1] sends at most one spike in the first
  window of K steps (K: the network's TTFS window, else T): ``m = clip(floor(K·x + 1/2), 0, K)``
  levels, the spike at step ``K + 1 − m`` (earlier for larger x) with amplitude 1/K, so that it
  carries ``m/K ≈ x``; x < 1/(2K), and every x = 0, sends nothing.
- ``latency``: latency coding, for trained networks: each input element x in [0, 1] sends at most
  one spike, of amplitude 1 (as rate coding), at the 0-based step ``floor(τ·ln(x / (x − x_th)))``
  with τ = 20 and x_th = 0.2 — the time an RC circuit driven by x takes to charge to x_th, as in
  snnTorch's latency code, but floored to whole steps: step 4 for x = 1, later for smaller x. An
  element with x ≤ x_th sends nothing (snnTorch would send it at the last step), nor does one whose
  step is T or later. x_th is the float32 nearest 0.2, the precision of the input, so that an input
  of 0.2 sends nothing; the step is computed in float64 from the float32 values.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

ENCODINGS = ("direct", "rate", "ttfs", "latency")

#: Latency coding's time constant τ (steps) and threshold x_th (module docstring).
LATENCY_TAU, LATENCY_THRESHOLD = 20.0, 0.2


def check_encoding(encoding: str) -> None:
    """Refuse an unknown encoding name with the list of known ones."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")


def _check_unit_range(x: np.ndarray, encoding: str) -> None:
    if x.size and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"{encoding} coding needs inputs in [0, 1], the data range over [{x.min():g}, {x.max():g}]",
            "scale the data to [0, 1] (the model's own normalisation is applied after coding), or use direct coding",
        )


def ttfs_spikes(x: np.ndarray, T: int, window: int) -> np.ndarray:
    """Time-to-first-spike trains for a batch: bool (N, T) + sample shape, at most one spike per
    element, in steps 1..window (module docstring); each spike stands for 1/window."""
    _check_unit_range(x, "ttfs")
    levels = np.clip(np.floor(window * x.astype(np.float64) + 0.5), 0, window).astype(np.int64)
    step = window - levels  # 0-based step of the spike; == window when there is none
    out = np.zeros((len(x), T) + x.shape[1:], dtype=bool)
    n, *rest = np.nonzero((levels > 0) & (step < T))
    out[(n, step[(n, *rest)], *rest)] = True
    return out


def latency_steps(x: np.ndarray) -> np.ndarray:
    """The 0-based step of each element's latency-coded spike, int64 of ``x``'s shape, −1 where it
    sends none (x ≤ x_th); steps beyond the run are the caller's to drop (module docstring)."""
    x = np.asarray(x, np.float32)
    threshold = np.float32(LATENCY_THRESHOLD)
    fires = x > threshold
    # the step in float64 from the float32 values; elements that send nothing get a dummy ratio of 1
    x64 = np.where(fires, x, np.float32(1)).astype(np.float64)
    step = np.floor(LATENCY_TAU * np.log(x64 / (x64 - np.float64(threshold))))
    return np.where(fires, step, -1).astype(np.int64)


def latency_spikes(x: np.ndarray, T: int) -> np.ndarray:
    """Latency-coded spike trains for a batch: bool (N, T) + sample shape, at most one spike per
    element, at :func:`latency_steps` when that is before T (module docstring)."""
    _check_unit_range(x, "latency")
    step = latency_steps(x)
    out = np.zeros((len(x), T) + x.shape[1:], dtype=bool)
    n, *rest = np.nonzero((step >= 0) & (step < T))
    out[(n, step[(n, *rest)], *rest)] = True
    return out


def rate_spikes(x: np.ndarray, T: int, seed: int, first_index: int = 0) -> np.ndarray:
    """Bernoulli spike trains for a batch: bool array (N, T) + sample shape.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs in [0, 1], (N,) + sample shape.
    T : int
        Time steps.
    seed : int
        Seed of the run.
    first_index : int
        Index of ``x[0]`` in the whole data set (each sample has its own random stream).
    """
    _check_unit_range(x, "rate")
    out = np.empty((len(x), T) + x.shape[1:], dtype=bool)
    for i in range(len(x)):
        rng = np.random.default_rng([seed, first_index + i])
        out[i] = rng.random((T,) + x.shape[1:], dtype=np.float32) < x[i]
    return out


def spike_amplitude(encoding: str, T: int, window: int | None = None) -> float:
    """What one input spike carries before the input normalisation: 1 for rate and latency coding,
    1/K for TTFS coding over a window of K steps (the network's window, else T)."""
    return 1.0 / (window or T) if encoding == "ttfs" else 1.0


def input_spikes(
    x: np.ndarray, T: int, encoding: str, seed: int = 0, first_index: int = 0, window: int | None = None
) -> tuple[np.ndarray | None, float]:
    """The spike-coded input of a batch, bool (N, T) + sample shape (None for direct coding), and the
    amplitude of one spike (:func:`spike_amplitude`)."""
    check_encoding(encoding)
    if encoding == "rate":
        spikes = rate_spikes(x, T, seed, first_index)
    elif encoding == "ttfs":
        spikes = ttfs_spikes(x, T, window or T)
    elif encoding == "latency":
        spikes = latency_spikes(x, T)
    else:
        spikes = None
    return spikes, spike_amplitude(encoding, T, window)
