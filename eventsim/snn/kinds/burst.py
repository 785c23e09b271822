"""Burst integrate-and-fire neurons (``burst``): up to B spikes in one step, so that a value crosses a
layer in fewer steps.

The reading of burst-spike conversions (Li & Zeng, "Efficient and accurate conversion of spiking
neural network with burst spikes", IJCAI 2022) that eventsim implements: a neuron integrates like IF
and, when its membrane holds several thresholds' worth, emits all of them at once, up to B:

    m = v + I(t);  k = min(B, max(0, ⌊m/θ⌋));  v ← m − k·θ;  the burst carries k·θ downstream.

With B = 1 this is the IF rule bit for bit. With B ≥ (v0 + Σ I)/θ the neuron never falls behind its
input: after T steps of a constant current z ≥ 0 it has emitted ⌊(v0 + T·z)/θ⌋ spikes (IF emits at
most T), so a layer whose activations exceed θ is no longer clipped at one spike per step. ``k`` is
computed so that ``k·θ ≤ m < (k+1)·θ`` holds in float32 exactly as the reset computes it, whatever
the rounding of m/θ.

How a burst is counted (the same in every engine and report): k spikes in the spike counts, and
*one* synaptic event of weight k·θ per target — what the engines do. A synapse turns it into k·w, a
multiplication, so the energy counts price the events that burst layers send as multiply-accumulates
(:attr:`~eventsim.snn.kinds.base.NeuronKind.graded`), not as accumulates: an honest upper bound (a
burst of 1 is priced as a MAC too), where counting k accumulates would be the lower one.

The phase carries B (a float32 ≥ 1 in every step: never 0, which would mean idle), so the rule keeps
the common shape ``(v, current, theta, phase)``; the layer's ``burst`` field holds B.
"""

from __future__ import annotations

import numpy as np

from .base import KindNetwork, NeuronKind, NeuronLayer, layers_from_thresholds

#: B when a conversion does not say: enough for activations up to twice the threshold.
DEFAULT_BURST = 2

# float32 constants: a Python literal would turn Numba's float32 arithmetic into float64
_ZERO, _ONE = np.float32(0.0), np.float32(1.0)


def burst_rule(v, current, theta, phase):
    """Burst integrate-and-fire with at most ``phase`` = B spikes per step (module docstring). Works on
    scalars and on arrays of broadcastable shapes, in float32 alike in NumPy and Numba.

    Returns
    -------
    v_new, spikes
        The membrane after the step and the number of spikes k (float32, 0 ≤ k ≤ B).
    """
    m = v + current
    k = np.floor(m / theta)
    # the quotient may round across a whole number: hold k to k·θ ≤ m < (k+1)·θ as the reset sees it
    k = k + (m >= (k + _ONE) * theta) - (m < k * theta)
    k = np.minimum(np.maximum(k, _ZERO), phase)
    return m - k * theta, k


def burst_phase(steps: np.ndarray, burst: int) -> np.ndarray:
    """Phase of a burst layer in 0-based ``steps``: B in every step (float32)."""
    return np.full(np.shape(steps), np.float32(burst), np.float32)


class Burst(NeuronKind):
    """Burst integrate-and-fire, up to B spikes per step (module docstring)."""

    name = "burst"
    description = "burst integrate-and-fire: up to B spikes of θ in one step, reset by subtraction"
    options = {"burst": DEFAULT_BURST}
    graded = True
    rule = staticmethod(burst_rule)

    def phases(self, steps, layer):
        return burst_phase(steps, layer.burst)

    def readout_weights(self, phases):
        """Rate readout: 1/T in each of the T steps (a burst layer may fire in every step)."""
        firing = np.asarray(phases) != 0
        return firing / max(int(firing.sum()), 1)

    def check_layer(self, name: str, layer: NeuronLayer) -> str | None:
        burst = layer.burst
        if not isinstance(burst, (int, np.integer)) or isinstance(burst, bool) or not 1 <= burst <= 2**20:
            return f"a burst neuron needs a whole number B of spikes per step with 1 ≤ B ≤ 2²⁰, got burst {burst!r}"
        if layer.leak != 1 or layer.reset != "subtract":
            return (
                f"a burst neuron has no leak and resets by subtraction, got leak {layer.leak!r}, reset {layer.reset!r}"
            )
        return None

    def check_settings(self, settings):
        burst = settings["burst"]
        if not isinstance(burst, (int, np.integer)) or isinstance(burst, bool) or not 1 <= burst <= 2**20:
            return f"the burst option (most spikes per step, B) must be a whole number from 1 to 2²⁰, got {burst!r}"
        return None

    def build(self, graph, thresholds, settings):
        """The ANN's graph, a layer of burst neurons per activation with B = ``settings['burst']``;
        v0 θ/2 or 0 (OPI's optimised v0 and FTBC's biases are set afterwards, as for IF)."""
        v0 = "zero" if settings["v0"] == "zero" else "half"
        layers = layers_from_thresholds(graph, thresholds, v0, self.name)
        for layer in layers.values():
            layer.burst = int(settings["burst"])
        return KindNetwork(graph, layers, meta={"v0": v0, "burst": int(settings["burst"])})
