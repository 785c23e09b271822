"""Per-layer conversion error: how far each neuron layer's spike rate is from the ANN activation it
stands for.

For neuron layer l, sample n and neuron i, the SNN's estimate of the ANN activation is what its spike
train stands for (its kind's ``readout_weights``): for rate kinds the spike count times the
amplitude over the steps in which the layer could fire, ``r = θ · count / F`` (F = T for IF neurons;
the steps of their firing cycles for bistable neurons); for TTFS neurons the value of its spike time,
θ·(K + 1 − k) for a spike k steps into its window. The error is the
mean of ``|r − a|`` over neurons and samples, where ``a`` is the ANN's activation (the output of the
activation node, so clipping and QCFS quantisation are part of ``a``). It is measured on the samples
whose rasters the recording holds.

It also counts the *spikes of inactivated neurons* (BSNN's term): spikes per sample from neurons whose
ANN pre-activation (the activation's input) is ≤ 0, so that a ReLU would output 0 — for clip and QCFS
layers too, whose quantised output can be 0 for small positive inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.executor import run_ann
from ..simulation.recording import Recording
from ..snn.network import SpikingNetwork


@dataclass
class LayerError:
    """Conversion error of one neuron layer.

    Attributes
    ----------
    layer : str
    mean_abs_error : float
        Mean over neurons and samples of ``|θ·count/T − a|``.
    mean_activation : float
        Mean ANN activation of the layer (the scale of the error).
    relative : float
        ``mean_abs_error / mean_activation`` (NaN if the layer is silent in the ANN).
    inactive_spikes : float
        Spikes per sample from neurons whose ANN pre-activation is ≤ 0.
    inactive_fraction : float
        Fraction of the layer's spikes that come from such neurons.
    """

    layer: str
    mean_abs_error: float
    mean_activation: float
    relative: float
    inactive_spikes: float = 0.0
    inactive_fraction: float = 0.0

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "mean_abs_error": self.mean_abs_error,
            "mean_activation": self.mean_activation,
            "relative": None if np.isnan(self.relative) else self.relative,
            "inactive_spikes": self.inactive_spikes,
            "inactive_fraction": self.inactive_fraction,
        }


def conversion_error(net: SpikingNetwork, recording: Recording, x: np.ndarray) -> list[LayerError]:
    """Per-layer error of the SNN rates against the ANN activations on the recorded rasters.

    Parameters
    ----------
    net : SpikingNetwork
        The simulated network.
    recording : Recording
        A recording with rasters (``simulate(..., raster_samples=...)``).
    x : numpy.ndarray
        The inputs the recording was made on (all of them; the raster samples are picked out).

    Raises
    ------
    ValueError
        If the recording holds no rasters.
    """
    samples = sorted(recording.rasters)
    if not samples:
        raise ValueError("the recording holds no rasters; simulate with raster_samples=[...]")
    sources = {name: net.graph.node(name).inputs[0] for name in recording.layers}
    _, acts = run_ann(net.graph, np.asarray(x)[samples], record=set(recording.layers) | set(sources.values()))
    phases = net.phases(recording.T)
    out = []
    for k, name in enumerate(recording.layers):
        trains = np.stack([recording.rasters[i][name] for i in samples]).astype(np.float64)  # (n, T) + shape
        counts = trains.sum(axis=1)
        weights = net.layers[name].spec.readout_weights(phases[k])
        rate = np.tensordot(weights, trains, axes=([0], [1])) * net.threshold_array(name)
        a = acts[name].astype(np.float64)
        error = float(np.abs(rate - a).mean())
        scale = float(a.mean())
        inactive = float((counts * (acts[sources[name]] <= 0)).sum())
        out.append(
            LayerError(
                name,
                error,
                scale,
                error / scale if scale > 0 else float("nan"),
                inactive / len(samples),
                inactive / counts.sum() if counts.sum() else 0.0,
            )
        )
    return out
