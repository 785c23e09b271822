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
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

ENCODINGS = ("direct", "rate", "ttfs")


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
    """What one input spike carries before the input normalisation: 1 for rate coding, 1/K for TTFS
    coding over a window of K steps (the network's window, else T)."""
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
    else:
        spikes = None
    return spikes, spike_amplitude(encoding, T, window)
