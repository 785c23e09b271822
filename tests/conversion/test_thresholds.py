"""Firing thresholds from data and from the model (docs/methods.md, "Thresholds")."""

from __future__ import annotations

import numpy as np
import pytest

import eventsim
from eventsim.conversion.thresholds import data_thresholds


def test_thresholds_per_channel_and_percentiles(digits):
    graph, data = digits
    x = data["x_calib"]
    layer = data_thresholds(graph, x, "max")
    channel = data_thresholds(graph, x, "max", per_channel=True)
    for name in layer:
        assert channel[name].shape == (graph.node(name).shape[0],)
        assert np.all(channel[name] <= layer[name])
        assert channel[name].max() == layer[name]
    previous = None
    for p in (50, 90, 99, 99.9, 99.99, 100):
        theta = data_thresholds(graph, x, "percentile", percentile=p)
        if previous is not None:
            assert all(theta[n] >= previous[n] for n in theta)
        previous = theta
    assert all(previous[n] == pytest.approx(layer[n]) for n in layer)  # the 100th percentile is the max


def test_percentile_is_exact_while_it_fits_and_close_beyond(digits):
    graph, data = digits
    x = data["x_calib"]
    _, acts = eventsim.run_ann(graph, x, record=True)
    streamed = data_thresholds(graph, x, "percentile", percentile=99, batch_size=7)
    sampled = data_thresholds(graph, x, "percentile", percentile=99, batch_size=7, max_values=5000)
    for name, a in acts.items():
        exact = np.percentile(a[a > 0], 99)
        assert streamed[name] == pytest.approx(exact, rel=1e-6)
        assert sampled[name] == pytest.approx(exact, rel=0.1)
