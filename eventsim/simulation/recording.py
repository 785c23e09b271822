"""What a simulation records, and the accuracy, agreement and rates read from it.

Counts are exact integers counted by the engines, never estimated. The default recording's memory
is O(samples × T × classes + layers × T + neurons), never O(T × neurons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .plan import SimulationPlan


@dataclass
class Recording:
    """The result of :func:`eventsim.simulate`.

    Attributes
    ----------
    T : int
        Simulated time steps.
    outputs : numpy.ndarray
        Output accumulator ``o(t) = Σ_{τ≤t} I_out(τ)``, shape (N, T, classes); ``outputs[:, t-1]``
        is o(t).
    layers : list of str
        Neuron layers (activation nodes), in graph order.
    neurons : numpy.ndarray
        Neurons per layer (L,).
    spikes_per_step : numpy.ndarray
        Spikes per layer and step summed over samples, int64 (L, T).
    spikes_per_sample : numpy.ndarray
        Spikes per sample and layer over all steps, int64 (N, L).
    neuron_counts : dict of str to numpy.ndarray
        Spikes of every neuron over all steps and samples, int64, in the layer's shape.
    synaptic_nodes : list of str
        Nodes whose work is counted in synaptic events (conv, dense, avgpool fed by spikes).
    sops_per_step : numpy.ndarray
        Synaptic events (accumulates: one per in-bounds target of an event) per node and step,
        summed over samples, int64 (S, T).
    sops_per_sample : numpy.ndarray
        Synaptic events per sample and node, int64 (N, S).
    rasters : dict of int to dict of str to numpy.ndarray
        For the samples asked for: per layer, a bool array (T,) + layer shape.
    wall_seconds : float
        Wall-clock time of the simulation.
    settings : dict
        engine, encoding, seed, batch size.
    first_spike : numpy.ndarray or None
        Step (1-based) of each layer's first spike in each sample, (N, L); T + 1 if it never fired.
    """

    T: int
    outputs: np.ndarray
    layers: list[str]
    neurons: np.ndarray
    spikes_per_step: np.ndarray
    spikes_per_sample: np.ndarray
    neuron_counts: dict[str, np.ndarray]
    synaptic_nodes: list[str]
    sops_per_step: np.ndarray
    sops_per_sample: np.ndarray
    rasters: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    settings: dict = field(default_factory=dict)
    first_spike: np.ndarray | None = None

    @classmethod
    def of_batch(cls, plan: SimulationPlan, **fields) -> Recording:
        """What an engine returns for one batch of ``plan``: the counted ``fields``, with the plan's
        layers, neurons and synaptic nodes."""
        return cls(
            plan.T, layers=list(plan.layers), neurons=plan.neurons(), synaptic_nodes=list(plan.synaptic), **fields
        )

    @property
    def samples(self) -> int:
        return len(self.outputs)

    def predictions(self) -> np.ndarray:
        """Predicted class at every step, (N, T): ``argmax o(t)``."""
        return np.argmax(self.outputs.reshape(self.samples, self.T, -1), axis=2)

    def accuracy(self, labels: np.ndarray) -> np.ndarray:
        """Fraction of correct predictions at every step t = 1..T, shape (T,)."""
        labels = np.asarray(labels)
        if labels.shape != (self.samples,):
            raise ValueError(f"labels of shape {labels.shape} do not match {self.samples} samples")
        return np.mean(self.predictions() == labels[:, None], axis=0)

    def agreement(self, ann_predictions: np.ndarray) -> np.ndarray:
        """Fraction of samples whose SNN prediction equals the ANN's, at every step (T,)."""
        return self.accuracy(ann_predictions)

    def firing_rates(self) -> np.ndarray:
        """Mean spikes per neuron per step of each layer (L,)."""
        return self.spikes_per_sample.sum(axis=0) / (self.neurons * self.T * max(self.samples, 1))

    def raster_points(self, sample: int, max_neurons: int = 400) -> dict[str, dict[str, list[int]]]:
        """Spikes of a raster sample as (step, neuron) lists per layer, for plots and reports.

        Layers with more than ``max_neurons`` neurons are shown by that many evenly spaced neurons
        (flat index in the layer's C, H, W order); ``neuron`` counts among the shown ones.
        """
        if sample not in self.rasters:
            raise ValueError(f"sample {sample} has no raster; recorded: {sorted(self.rasters)}")
        out = {}
        for name, spikes in self.rasters[sample].items():
            flat = spikes.reshape(len(spikes), -1)
            shown = np.unique(np.linspace(0, flat.shape[1] - 1, min(max_neurons, flat.shape[1])).astype(int))
            t, i = np.nonzero(flat[:, shown])
            out[name] = {"t": (t + 1).tolist(), "neuron": i.tolist(), "shown": len(shown), "neurons": flat.shape[1]}
        return out

    def first_spike_steps(self) -> dict[str, np.ndarray]:
        """Per layer, the step (1-based) of each neuron's first spike in each raster sample,
        (raster samples, neurons) int64, 0 where it never fired: the spike-time distribution of a
        TTFS network (one spike at most, so its only spike)."""
        samples = sorted(self.rasters)
        out = {}
        for name in self.layers:
            if not samples:
                out[name] = np.zeros((0, 0), np.int64)
                continue
            spikes = np.stack([self.rasters[i][name].reshape(self.T, -1) for i in samples])  # (S, T, n)
            fired = spikes.any(axis=1)
            out[name] = np.where(fired, spikes.argmax(axis=1) + 1, 0).astype(np.int64)
        return out

    @staticmethod
    def merge(parts: list[Recording]) -> Recording:
        """One recording of the samples of ``parts`` (in order), as if simulated together."""
        first = parts[0]
        offsets = np.cumsum([0] + [p.samples for p in parts])
        rasters = {int(k + off): v for p, off in zip(parts, offsets) for k, v in p.rasters.items()}
        return Recording(
            first.T,
            np.concatenate([p.outputs for p in parts]),
            first.layers,
            first.neurons,
            sum(p.spikes_per_step for p in parts),
            np.concatenate([p.spikes_per_sample for p in parts]),
            {k: sum(p.neuron_counts[k] for p in parts) for k in first.neuron_counts},
            first.synaptic_nodes,
            sum(p.sops_per_step for p in parts),
            np.concatenate([p.sops_per_sample for p in parts]),
            rasters,
            sum(p.wall_seconds for p in parts),
            first.settings,
            None if first.first_spike is None else np.concatenate([p.first_spike for p in parts]),
        )
