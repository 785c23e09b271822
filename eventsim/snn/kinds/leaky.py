"""Leaky integrate-and-fire neurons (``lif``): the membrane decays by a factor β each step, then
integrates, fires at θ and resets by subtraction or to zero.

A layer's ``leak`` β ∈ (0, 1] and ``reset`` ("subtract" or "zero") set the rule of every step:

    m = β·v + I(t);  s = [m ≥ θ];  v ← m − s·θ (reset by subtraction)  or  v ← m − s·m = 0 (to zero);

a spike carries θ downstream, as for IF. With β = 1 and reset by subtraction this is the IF rule,
bit for bit on finite values (β·v = v exactly in float32).

The phase encodes the leak and the reset, so that the rule keeps the common shape
``(v, current, theta, phase)`` and the engines need nothing but the phase table: a LIF layer's phase
is ``+β`` in every step for reset by subtraction and ``−β`` for reset to zero. It is never 0, which
would mean idle (β > 0), so no engine skips a step of a LIF layer.

LIF networks are not converted from ANNs (the rate equivalence the conversions rest on holds for
neurons without a leak): they come from training (``eventsim.train``); to convert an ANN, use kind
``if``.
"""

from __future__ import annotations

import math
from typing import NoReturn

import numpy as np

from ...errors import UnsupportedError
from .base import IDLE, RESETS, NeuronKind, NeuronLayer
from .integrate_and_fire import nir_if


def lif_rule(v, current, theta, phase):
    """Leaky integrate-and-fire: leak |phase|, reset by subtraction for phase > 0, to zero for
    phase < 0 (module docstring). Works on scalars and on arrays of broadcastable shapes.

    Written without literals so that NumPy and Numba compute it in float32 alike (``phase`` is a
    float32 of the phase table): the reset amount is θ or m, picked by multiplying with the two
    signs of the phase (exact: one of the products is 0).

    Returns
    -------
    v_new, spike
        The membrane after the step and the spike indicator (bool).
    """
    m = v * abs(phase) + current
    spike = m >= theta
    subtract = phase > 0
    zero = phase < 0
    return m - spike * (theta * subtract + m * zero), spike


def lif_phase(steps: np.ndarray, leak: float, reset: str) -> np.ndarray:
    """Phase of a LIF layer in 0-based ``steps``: β for reset by subtraction, −β for reset to zero,
    in every step (float32, the value the rule receives)."""
    beta = np.float32(leak)
    return np.full(np.shape(steps), beta if reset == "subtract" else -beta, np.float32)


def _refuse() -> NoReturn:
    raise UnsupportedError(
        "LIF neurons (kind 'lif') have no conversion recipe: LIF networks come from training (eventsim.train)",
        "to convert an ANN, use neuron kind 'if'",
    )


class LeakyIntegrateAndFire(NeuronKind):
    """Leaky integrate-and-fire with reset by subtraction or to zero (module docstring)."""

    name = "lif"
    description = "leaky integrate-and-fire: membrane decays by β per step, reset by subtraction or to zero"
    rule = staticmethod(lif_rule)

    def phases(self, steps, layer):
        return lif_phase(steps, layer.leak, layer.reset)

    def membrane_dynamics(self, layer):
        return layer.leak, layer.reset

    def readout_weights(self, phases):
        """Rate readout: 1/T in each of the T steps (a LIF layer may fire in every step)."""
        firing = np.asarray(phases) != IDLE
        return firing / max(int(firing.sum()), 1)

    def check_layer(self, name: str, layer: NeuronLayer) -> str | None:
        if layer.burst != 1:
            return f"a {self.name} neuron emits one spike per step at most (burst 1), got burst {layer.burst!r}"
        leak = layer.leak
        # β must stay > 0 as the float32 of the phase table too: a phase of 0 would mean idle
        if not isinstance(leak, float) or not math.isfinite(leak) or not 0 < leak <= 1 or np.float32(leak) == 0:
            return f"a lif neuron needs a finite leak β with 0 < β ≤ 1 (β > 0 in float32), got {leak!r}"
        if layer.reset not in RESETS:
            return f"a lif neuron resets by {' or '.join(map(repr, RESETS))}, got reset {layer.reset!r}"
        return None

    def to_nir(self, name, layer, theta, nir):
        """``nir.LIF`` whose forward-Euler step of dt = 1 is this rule: τ = 1/(1 − β), r = τ, v_leak = 0
        (then v + (v_leak − v + r·I)/τ = β·v + I), v_reset = 0; β = 1 is ``nir.IF``."""
        note = "" if layer.reset == "zero" else "resets by subtracting θ where NIR's neurons reset to v_reset = 0"
        beta = float(np.float32(layer.leak))
        if beta == 1.0:
            return nir_if(nir, theta), note
        tau = np.full_like(theta, 1.0 / (1.0 - beta))
        zeros = np.zeros_like(theta)
        lif = nir.LIF(tau=tau, r=tau.copy(), v_leak=zeros, v_threshold=theta, v_reset=zeros.copy())
        lif.metadata["eventsim_dt"] = 1.0  # the time step that makes NIR's continuous LIF this rule
        return lif, note

    def check_settings(self, settings):
        _refuse()  # before any calibration work

    def build(self, graph, thresholds, settings):
        _refuse()
