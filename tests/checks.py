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


def assert_same_spikes(run, ref):
    """Spikes per step, synaptic events and every neuron's count identical to ``ref``'s, outputs to
    float rounding: for networks whose thresholds are not on a grid, where the engines may sum a
    layer's current in another order."""
    np.testing.assert_array_equal(run.spikes_per_step, ref.spikes_per_step)
    np.testing.assert_array_equal(run.sops_per_sample, ref.sops_per_sample)
    for name in ref.neuron_counts:
        np.testing.assert_array_equal(run.neuron_counts[name], ref.neuron_counts[name])
    np.testing.assert_allclose(run.outputs, ref.outputs, rtol=1e-5, atol=1e-5 * np.abs(ref.outputs).max())


#: Every way of running an engine other than the ground truth: each engine as it runs by default, the
#: layer engine with each method forced, and with chunks of one step and one sample (all state carried
#: from chunk to chunk).
ENGINE_VARIANTS = [
    ("event", {}),
    ("layer", {}),
    ("layer", {"method": "events"}),
    ("layer", {"method": "dense"}),
    ("layer", {"memory": 1}),
]


def simulate_with(variant, net, x, T, **kwargs):
    """``eventsim.simulate`` with an engine variant of :data:`ENGINE_VARIANTS` (or an engine name)."""
    import eventsim

    engine, options = (variant, {}) if isinstance(variant, str) else variant
    return eventsim.simulate(net, x, T, engine=engine, engine_options=options, **kwargs)


def kink_near_zero(at, small: float, large: float, eps: float = 2e-3) -> bool:
    """Whether a loss ``at(t)`` along a direction has a kink near t = 0 (where a max changes hands or
    a hard spike moves to another step), given its central differences with two steps, ``small`` and
    ``large``: they disagree, or — for a kink so close to 0 that both steps straddle it alike — the
    one-sided slopes of step ``eps`` do (a smooth loss's differ by its curvature times the step, far
    less). Finite differences are no oracle across a kink."""
    if abs(small - large) > 0.05 * max(abs(small), abs(large)) + 1e-4:
        return True
    centre = at(0.0)
    forward, backward = (at(eps) - centre) / eps, (centre - at(-eps)) / eps
    return abs(forward - backward) > 0.05 * max(abs(forward), abs(backward)) + 1e-4
