"""Time-to-first-spike neurons (``ttfs``): the exact mapping of a ReLU network to single-spike neurons
of Stanojevic et al. ("An exact mapping from ReLU networks to spiking neural networks", Neural
Networks 2023; "High-performance deep spiking neural networks with 0.3 spikes per neuron", Nature
Communications 2024: the constant-slope mapping), in discrete time (docs/ttfs.md):

- time is cut into windows of K = ``period`` steps; a layer at stage n integrates in window n − 1 and
  may fire only in window n; its spikes carry δ = θ (the layer's resolution, λ/K for a bound λ);
- integrating, at the step that is ``g`` steps before the window's end (g = K .. 1): ``v ← v + g·I(t)``
  — a spike that arrives with g steps left keeps charging for g steps (the linear post-synaptic
  potential of the paper, integrated exactly);
- firing: ``v ← v + θ`` per step (the constant slope), one spike when ``v ≥ K·θ``, then never again:
  the membrane is set to −v (≤ −Kθ), which the remaining ramp of the window cannot lift to Kθ;
- so a neuron whose window ends with ``v = z − θ/2`` fires ``K + 1 − m`` steps into window n with
  ``m = clip(floor(z/θ + 1/2), 0, K)``: earlier for larger z, never for z < θ/2 (every z ≤ 0).

The phase of a TTFS layer encodes this: 0 idle, g > 0 integrate with weight g, −K fire. The network
reads its input with TTFS coding over the same window, and its output integrates like a TTFS neuron
one stage after the deepest layer (temporal decoding with weight "steps left in its window").

The recipe (:func:`ttfs_network`):

- layer n's spikes carry δ_n = λ_n/K for its bound λ_n (the clip/QCFS bound or a data-based
  threshold); a spike ``K + 1 − m`` steps into the window stands for δ_n·m;
- the initial potential holds everything constant once: v0 = S − δ_n/2 − S·K(K+1)/2, with S the
  constant current the neuron receives every step (bias, the input normalisation's shift through the
  first layer, border terms of padded convolutions), which the window's integration adds K(K+1)/2
  times;
- so every neuron emits ``m = clip(floor(z/δ_n + 1/2), 0, K)`` as its spike time: the network
  computes, exactly, the ANN whose activations are the quantiser λ/K·clip(floor(zK/λ + 1/2), 0, K)
  (QCFS with L = K) on the input quantised to K levels by the TTFS input coding;
- joins of different stages get synchronous delays of whole windows; max pooling is exact (on
  cumulative counts the pool spikes once, at its earliest input, which carries the largest value)
  and average pooling is linear.
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Graph
from ...ir.stages import pipeline_stages
from ...passes.synchronous import insert_synchronous_neurons
from ..split import dynamic_nodes, shared_static
from .base import KindNetwork, NeuronKind, layers_from_thresholds, per_neuron


def ttfs_rule(v, current, theta, phase):
    """``phase`` 0 idle, g > 0 integrate ``g·I``, −K fire with ramp θ (module docstring).

    Written without literals so that NumPy and Numba compute it in float32 alike (``phase`` is a
    float32 of the phase table)."""
    integrate = phase > 0
    fire = phase < 0
    m = v + current * (phase * integrate) + theta * fire
    spike = fire & (m >= -phase * theta)
    return m - spike * (m + m), spike


def ttfs_phase(t: np.ndarray, period: int, stage: int) -> np.ndarray:
    """Phase of a TTFS layer at ``stage`` in 0-based steps ``t``: the integration weight g (steps left
    in window stage − 1), −period in window stage, 0 otherwise."""
    t = np.asarray(t)
    window = t // period
    left = period - t % period
    return np.where(window == stage - 1, left, np.where(window == stage, -period, 0)).astype(np.int64)


def ttfs_network(graph: Graph, bounds: dict[str, np.ndarray], window: int) -> KindNetwork:
    """The TTFS network of ``graph`` (module docstring).

    Parameters
    ----------
    graph : Graph
        The ANN (activations with lower bound 0).
    bounds : dict of str to array
        λ per activation node, scalar or per channel: the value a spike at the first step of the
        window stands for.
    window : int
        K, steps per window; T = K × (deepest stage + 1) shows the full result.

    Returns
    -------
    KindNetwork
        With temporal decoding and ``meta["ttfs"]``: the window, the number of stages, the steps of a
        full run and the synchronous delays.
    """
    synced, delays = insert_synchronous_neurons(graph, window)
    stages = pipeline_stages(synced, window)
    delta = {name: np.asarray(bound, np.float32) / np.float32(window) for name, bound in bounds.items()}
    layers = layers_from_thresholds(synced, delta, "zero", "ttfs")
    shared = shared_static(synced, dynamic_nodes(synced, spiking_input=True))
    for node in synced.activation_nodes():
        layer = layers[node.name]
        layer.period, layer.stage = window, stages[node.name]
        constant = shared[node.inputs[0]][0].astype(np.float64)
        half = per_neuron(layer.threshold, node.shape).astype(np.float64) / 2
        layer.v0 = (constant - half - constant * (window * (window + 1) / 2)).astype(np.float32)
    deepest = max(layer.stage for layer in layers.values())
    meta = {
        "v0": "zero",
        "ttfs": {
            "window": window,
            "stages": deepest,
            "steps": window * (deepest + 1),
            "synchronous_delays": [d.record() for d in delays],
        },
    }
    return KindNetwork(synced, layers, decoding="temporal", meta=meta)


class TimeToFirstSpike(NeuronKind):
    """Single-spike TTFS neuron (module docstring)."""

    name = "ttfs"
    description = (
        "time-to-first-spike neuron (Stanojevic et al.): integrates one window, fires at most once in the next"
    )
    scheduled = True
    coding = "ttfs"
    options = {"window": 8}
    rule = staticmethod(ttfs_rule)

    def schedule(self, steps, period, stage):
        return ttfs_phase(steps, period, stage)

    def readout_weights(self, phases):
        """A spike at the k-th step of its firing window stands for K + 1 − k."""
        firing = phases < 0
        weights = np.zeros(len(phases))
        period = -phases[firing]
        position = np.cumsum(firing)[firing] - 1  # how many firing steps came before, within the window
        weights[firing] = period - position % period
        return weights

    def temporal_weights(self, T, period, stage):
        return np.maximum(ttfs_phase(np.arange(T), period, stage), 0).astype(np.float32)

    def result_steps(self, period, deepest_stage):
        """The output integrates in the window after the deepest layer's: K × (stages + 1) steps."""
        return period * (deepest_stage + 1)

    def coding_window(self, layer):
        return layer.period

    def check_settings(self, settings):
        if settings["v0"] != "half" or settings["ftbc"]:
            return "TTFS neurons (ttfs) combine with the threshold modes only: their v0 follows from the mapping"
        return super().check_settings(settings)

    def build(self, graph, thresholds, settings):
        return ttfs_network(graph, thresholds, int(settings["window"]))
