"""Neuron kinds: their rules against closed forms and identities, their schedules, readouts, and the
event engine's table of compiled rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.snn.kinds import FIRE, IDLE, INTEGRATE, INTEGRATE_AND_FIRE, bistable_phase, if_rule


def test_phase_schedule():
    """Stage s: idle before cycle s − 1, then integrate / fire in alternate cycles, s − 1 first."""
    t = np.arange(24)
    assert bistable_phase(t, 4, 1).tolist() == ([INTEGRATE] * 4 + [FIRE] * 4) * 3
    assert bistable_phase(t, 2, 3).tolist()[:8] == [IDLE] * 4 + [INTEGRATE] * 2 + [FIRE] * 2
    for stage in range(1, 5):  # a layer integrates exactly while the one before it fires
        before, after = bistable_phase(t, 3, stage), bistable_phase(t, 3, stage + 1)
        assert np.all((before == FIRE) == (after == INTEGRATE))


@settings(max_examples=40)
@given(z=st.lists(st.integers(-16, 24), min_size=1, max_size=40), theta=st.integers(1, 16), start=st.integers(0, 15))
def test_telescoping_identity(z, theta, start):
    """θ Σ s(t) = Σ z(t) + v(0) − v(T) for any input sequence (reset by subtraction, no leak)."""
    theta = np.float32(theta / 4)
    v = np.float32(start / 16) * theta
    v_start, fired = v, 0
    for value in z:
        v, spike = if_rule(v, np.float32(value / 8), theta, INTEGRATE_AND_FIRE)
        fired += int(spike)
    assert theta * fired == pytest.approx(sum(value / 8 for value in z) + v_start - v, abs=1e-5)
