"""Input coding: TTFS, rate and latency spike trains."""

from __future__ import annotations

import math

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import random_networks

import eventsim
from eventsim.snn.coding import input_spikes, latency_spikes, latency_steps, ttfs_spikes


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


def test_latency_coding_on_chosen_pixels():
    """One spike at step ⌊20·ln(x/(x − 0.2))⌋ (0-based) for x > 0.2: 4 for x = 1, later for smaller x;
    none for x ≤ 0.2, nor when that step is T or later; amplitude 1."""
    x = np.array([[0.0, 0.1, 0.2, 1.0, 0.5, 0.25, 0.21]], np.float32)
    steps = latency_steps(x[0])
    assert steps[:3].tolist() == [-1, -1, -1]
    assert steps[3] == 4 == math.floor(20 * math.log(1.25))
    assert steps[3:].tolist() == [math.floor(20 * math.log(v / (v - 0.2))) for v in (1.0, 0.5, 0.25, 0.21)]
    assert np.all(np.diff(steps[3:]) > 0)  # smaller x, later spike
    spikes, amplitude = input_spikes(x, 40, "latency")
    assert amplitude == 1.0 and spikes.shape == (1, 40, 7)
    fired = {i: np.flatnonzero(spikes[0, :, i]).tolist() for i in range(7)}
    assert fired == {0: [], 1: [], 2: [], 3: [4], 4: [10], 5: [32], 6: []}  # 0.21: step 60 ≥ T
    with pytest.raises(eventsim.DataError, match=r"\[0, 1\]"):
        input_spikes(x * 2, 40, "latency")


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 80))
def test_latency_coding_sends_at_most_one_spike_per_element(seed, T):
    rng = np.random.default_rng(seed)
    x = rng.random((3, 2, 5)).astype(np.float32)
    spikes = latency_spikes(x, T)
    assert spikes.shape == (3, T, 2, 5) and spikes.sum(axis=1).max() <= 1
    step = latency_steps(x)
    np.testing.assert_array_equal(spikes.any(axis=1), (x > np.float32(0.2)) & (step < T))
    np.testing.assert_array_equal(
        np.where(spikes.any(axis=1), np.argmax(spikes, axis=1), -1), np.where(step < T, step, -1)
    )


@settings(max_examples=30)
@given(case=random_networks(), T=st.integers(1, 16), engine=st.sampled_from(ENGINE_VARIANTS))
def test_engines_are_bit_identical_on_latency_coded_input(case, T, engine):
    net, x = case
    runs = [
        simulate_with(e, net, x, T, encoding="latency", raster_samples=(0,), batch_size=2)
        for e in ("reference", engine)
    ]
    assert_identical(*runs)
    assert runs[0].settings["encoding"] == "latency"
