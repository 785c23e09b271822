"""Input coding: TTFS and rate spike trains."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.snn.coding import ttfs_spikes


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), window=st.integers(1, 12), T=st.integers(1, 20))
def test_input_coding(seed, window, T):
    """At most one spike per element; none for x < 1/(2K); at step K + 1 − round(Kx), earlier for more."""
    rng = np.random.default_rng(seed)
    x = rng.random((3, 2, 5)).astype(np.float32)
    x[0, 0] = 0
    spikes = ttfs_spikes(x, T, window)
    assert spikes.shape == (3, T, 2, 5) and spikes.sum(axis=1).max() <= 1
    assert not spikes[0, :, 0].any()
    levels = np.clip(np.floor(window * x.astype(np.float64) + 0.5), 0, window)
    step = np.where(spikes.any(axis=1), np.argmax(spikes, axis=1) + 1, 0)
    expected = np.where((levels > 0) & (window + 1 - levels <= T), window + 1 - levels, 0)
    np.testing.assert_array_equal(step, expected)
    with pytest.raises(eventsim.DataError, match=r"\[0, 1\]"):
        ttfs_spikes(x + 1, T, window)
