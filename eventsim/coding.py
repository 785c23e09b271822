"""Input coding: how the analog input becomes the network's input in each time step.

- ``direct``: the (normalised) analog input is the first layer's input in every step; the layers
  it feeds compute their current once per sample (multiply-accumulates, not synaptic events).
- ``rate``: in every step each input element spikes with probability equal to its value, which
  must lie in [0, 1] (pixel intensities); a spike has amplitude 1 before the input normalisation.
  The spikes of sample ``i`` come from ``numpy.random.default_rng([seed, i])``, so they do not depend
  on the batch size and are the same in both engines.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError

ENCODINGS = ("direct", "rate")


def check_encoding(encoding: str) -> None:
    """Refuse an unknown encoding name with the list of known ones."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")


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
    if x.size and (x.min() < 0 or x.max() > 1):
        raise DataError(
            f"rate coding needs inputs in [0, 1], the data range over [{x.min():g}, {x.max():g}]",
            "scale the data to [0, 1] (the model's own normalisation is applied after coding), or use direct coding",
        )
    out = np.empty((len(x), T) + x.shape[1:], dtype=bool)
    for i in range(len(x)):
        rng = np.random.default_rng([seed, first_index + i])
        out[i] = rng.random((T,) + x.shape[1:], dtype=np.float32) < x[i]
    return out
