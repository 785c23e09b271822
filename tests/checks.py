"""Comparisons the tests share."""

from __future__ import annotations

import numpy as np


def assert_identical(a, b):
    np.testing.assert_array_equal(a.spikes_per_step, b.spikes_per_step)
    np.testing.assert_array_equal(a.spikes_per_sample, b.spikes_per_sample)
    np.testing.assert_array_equal(a.first_spike, b.first_spike)
    np.testing.assert_array_equal(a.sops_per_step, b.sops_per_step)
    np.testing.assert_array_equal(a.sops_per_sample, b.sops_per_sample)
    for name in a.neuron_counts:
        np.testing.assert_array_equal(a.neuron_counts[name], b.neuron_counts[name])
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert a.rasters.keys() == b.rasters.keys()
    for i in a.rasters:
        for name in a.rasters[i]:
            np.testing.assert_array_equal(a.rasters[i][name], b.rasters[i][name])
