"""Per-layer conversion error against its closed-form bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import grid, single_layer

import eventsim
from eventsim import conversion_error


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 40), theta=st.sampled_from([0.5, 1.0, 2.0]))
def test_conversion_error_within_the_closed_form_bound(seed, T, theta):
    """A constant current z with v0 = θ/2: the rate θN/T is within θ/(2T) of z on [0, θ], saturates
    at θ above it and is 0 below 0, so |rate − relu(z)| ≤ θ/(2T), z − θ, 0 respectively."""
    rng = np.random.default_rng(seed)
    net = single_layer(rng, 5, 6, theta, theta / 2)
    x = grid(rng, (3, 5), 0.0, 1.0, 0.125)
    first = net.graph.nodes[1]
    z = x @ first.params["W"].T + first.params["b"]
    bound = np.where(z < 0, 0.0, np.where(z <= theta, theta / (2 * T), z - theta))
    rec = eventsim.simulate(net, x, T, raster_samples=range(3))
    (error,) = conversion_error(net, rec, x)
    assert error.mean_abs_error <= bound.mean() + 1e-6
    assert error.mean_activation == pytest.approx(np.maximum(z, 0).mean(), abs=1e-6)


def test_conversion_error_needs_rasters(digits_opi):
    net, x, _ = digits_opi
    with pytest.raises(ValueError, match="raster"):
        conversion_error(net, eventsim.simulate(net, x[:2], 2), x[:2])
