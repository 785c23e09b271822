"""Single-spike integrate-and-fire neurons (``single_spike``): the neuron of trained TTFS networks
(Che et al., "Towards efficient and effective training of TTFS spiking neural networks", arXiv
2410.23619; docs/ttfs.md says which reading eventsim implements).

A layer integrates its input current every step and fires when its membrane reaches θ, at most once
per sample; after its spike it is silent for the rest of the run:

    m = β·v + I(t);  s = [m ≥ θ]·(not fired before);  v ← m, or SILENT once it has fired;

a spike carries θ downstream, as for IF. The membrane of a neuron that has fired holds the marker
:data:`SILENT` (−2¹⁰⁰), which the rule recognises exactly, so the neuron stays silent whatever
current it receives afterwards and the state remains one float32 per neuron in every engine. The
marker is finite, so no arithmetic on it gives NaN, and far below any threshold, so a surrogate
gradient at its u is exactly 0.

The phase is β in every step (β = 1: the integrate-and-fire neuron of TTFS training; it is never 0,
which would mean idle). Networks of this kind come from training (``eventsim.train(...,
kind="single_spike")``); to convert an ANN to single spikes, use kind ``ttfs``.
"""

from __future__ import annotations

import math
from typing import NoReturn

import numpy as np

from ...errors import UnsupportedError
from .base import NeuronKind, NeuronLayer

#: Membrane of a neuron that has fired (module docstring).
SILENT = np.float32(-(2.0**100))


def single_spike_rule(v, current, theta, phase):
    """Single-spike integrate-and-fire with leak ``phase`` (module docstring). Works on scalars and on
    arrays of broadcastable shapes.

    Written without literals but the float32 marker, so that NumPy and Numba compute it in float32
    alike: the new membrane is picked by multiplying with the indicator (exact: one term is 0).

    Returns
    -------
    v_new, spike
        The membrane after the step and the spike indicator (bool).
    """
    fired = v == SILENT
    m = v * phase + current
    spike = (m >= theta) & (v != SILENT)
    gone = spike | fired
    return m - m * gone + gone * SILENT, spike


def single_spike_phase(steps: np.ndarray, leak: float) -> np.ndarray:
    """Phase of a single-spike layer in 0-based ``steps``: β in every step (float32)."""
    return np.full(np.shape(steps), np.float32(leak), np.float32)


def _refuse() -> NoReturn:
    raise UnsupportedError(
        "single-spike neurons (kind 'single_spike') have no conversion recipe: they come from training "
        "(eventsim.train(..., kind='single_spike'))",
        "to convert an ANN to single spikes, use neuron kind 'ttfs'",
    )


class SingleSpike(NeuronKind):
    """Single-spike integrate-and-fire neuron of TTFS training (module docstring)."""

    name = "single_spike"
    description = "single-spike integrate-and-fire (TTFS training): fires at most once per sample, then silent"
    coding = "ttfs"
    rule = staticmethod(single_spike_rule)

    def phases(self, steps, layer):
        return single_spike_phase(steps, layer.leak)

    def membrane_dynamics(self, layer):
        """The leaky rule whose reset silences the neuron for good ("once")."""
        return layer.leak, "once"

    def readout_weights(self, phases):
        """The TTFS reading: a spike k steps into a run of T steps stands for (T + 1 − k)/T of θ, so
        that earlier spikes stand for larger values."""
        steps = len(phases)
        return np.arange(steps, 0, -1) / max(steps, 1)

    def check_layer(self, name: str, layer: NeuronLayer) -> str | None:
        if layer.burst != 1:
            return f"a {self.name} neuron emits one spike per step at most (burst 1), got burst {layer.burst!r}"
        leak = layer.leak
        if not isinstance(leak, float) or not math.isfinite(leak) or not 0 < leak <= 1 or np.float32(leak) == 0:
            return f"a single_spike neuron needs a finite leak β with 0 < β ≤ 1, got {leak!r}"
        if layer.reset != "subtract":
            return f"a single_spike neuron has no reset mode (it is silent after its spike), got reset {layer.reset!r}"
        if np.any(np.asarray(layer.v0) <= SILENT):
            return "a single_spike neuron's initial potential must lie above the silent marker −2¹⁰⁰"
        return None

    def check_settings(self, settings):
        _refuse()  # before any calibration work

    def build(self, graph, thresholds, settings):
        _refuse()
