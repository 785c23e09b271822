"""Signed integrate-and-fire neurons (``signed``): a neuron may emit a negative spike that takes back
one of its earlier positive spikes, so an early over-firing is corrected.

Signed neurons with memory (Wang et al., "Signed neuron with memory: towards simple, accurate and
high-efficient ANN-SNN conversion", IJCAI 2022) keep, besides the membrane, how many spikes they
have emitted net so far, N. The reading eventsim implements:

    m = v + I(t);  s = +1 if m ≥ θ,  −1 if m < 0 and N > 0,  else 0;  v ← m − s·θ;  N ← N + s;

a spike carries s·θ downstream. The negative threshold is 0: as long as one spike per step suffices
(|I(t)| < θ), the membrane stays in [0, θ) once the neuron has fired, so after every step

    N(t) = max(0, ⌊(v0 + Σ_{τ≤t} I(τ)) / θ⌋),

the quantiser of the ANN activation (⌊·⌋ with v0 = 0, rounding with v0 = θ/2) whatever the order in
which the current arrives — where IF keeps every spike it emitted early. The net count never falls
below 0 (a neuron takes back only spikes it has emitted), so a layer still stands for a ReLU. The
telescoping identity holds with signed counts: θ·N(T) = v0 + Σ I − v(T).

How it is counted: a negative spike is a spike (the spike counts add |s|) and one synaptic event of
weight −θ per target, an accumulate like a positive one (a subtraction), so it is priced as a ``sop``.
"""

from __future__ import annotations

import numpy as np

from .base import KindNetwork, NeuronKind, layers_from_thresholds

_ONE = np.float32(1.0)  # a Python literal would turn Numba's float32 arithmetic into float64


def signed_rule(v, current, theta, phase, count):
    """Signed integrate-and-fire with memory ``count`` = N (module docstring); ``phase`` is ignored.
    Works on scalars and on arrays of broadcastable shapes, in float32 alike in NumPy and Numba.

    Returns
    -------
    v_new, spike, count_new
        The membrane, the spike (float32 +1, −1 or 0) and the net count after the step.
    """
    m = v + current
    spike = (m >= theta) * _ONE - ((m < 0) & (count > 0)) * _ONE
    return m - spike * theta, spike, count + spike


class Signed(NeuronKind):
    """Signed integrate-and-fire with memory (module docstring)."""

    name = "signed"
    description = "signed integrate-and-fire: takes back an earlier spike with a negative one when v < 0"
    memory = True
    rule = staticmethod(signed_rule)

    def build(self, graph, thresholds, settings):
        """The ANN's graph, a layer of signed neurons per activation; v0 θ/2 or 0 (OPI's optimised v0
        and FTBC's biases are set afterwards, as for IF)."""
        v0 = "zero" if settings["v0"] == "zero" else "half"
        return KindNetwork(graph, layers_from_thresholds(graph, thresholds, v0, self.name), meta={"v0": v0})
