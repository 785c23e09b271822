"""Integrate-and-fire neurons (``if``): integrate every step, fire at θ, reset by subtraction.

The kind of the rate-coded conversions (max and percentile thresholds, OPI, FTBC):

    m = v + I(t);  s = [m ≥ θ];  v ← m − s·θ;  a spike carries θ downstream.
"""

from __future__ import annotations

import numpy as np

from .base import KindNetwork, NeuronKind, layers_from_thresholds


def nir_if(nir, theta: np.ndarray):
    """``nir.IF`` with r = 1, threshold θ and v_reset = 0: v ← v + I, spike and reset to 0 at θ."""
    return nir.IF(r=np.ones_like(theta), v_threshold=theta, v_reset=np.zeros_like(theta))


def if_rule(v, current, theta, phase):
    """Integrate-and-fire with reset by subtraction; ``phase`` is ignored.

    Works on scalars and on arrays of equal or broadcastable shapes.

    Returns
    -------
    v_new, spike
        The membrane after the step and the spike indicator (bool).
    """
    m = v + current
    spike = m >= theta
    return m - spike * theta, spike


class IntegrateAndFire(NeuronKind):
    """Integrate-and-fire with reset by subtraction (module docstring)."""

    name = "if"
    description = "integrate-and-fire, reset by subtraction, spikes carry the threshold"
    rule = staticmethod(if_rule)

    def membrane_dynamics(self, layer):
        """The leaky rule without leak: β = 1, reset by subtraction."""
        return 1.0, "subtract"

    def to_nir(self, name, layer, theta, nir):
        return nir_if(nir, theta), "resets by subtracting θ where NIR's IF resets to v_reset = 0"

    def build(self, graph, thresholds, settings):
        """The ANN's graph, a layer per activation; v0 θ/2 or 0 (OPI's optimised v0 and FTBC's biases
        are set afterwards by the conversion)."""
        v0 = "zero" if settings["v0"] == "zero" else "half"
        return KindNetwork(graph, layers_from_thresholds(graph, thresholds, v0), meta={"v0": v0})
