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

#: What :meth:`Recording.predictions` gives for a sample that has not decided (no unique largest output).
UNDECIDED = -1


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
    output_sources : tuple of (str or None, int) or None
        What feeds the output without passing another neuron layer: (neuron layer, steps of delay on
        the way) pairs, (None, delay) for the input itself (:func:`output_sources`).
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
    output_sources: tuple[tuple[str | None, int], ...] | None = None

    @classmethod
    def of_batch(cls, plan: SimulationPlan, **fields) -> Recording:
        """What an engine returns for one batch of ``plan``: the counted ``fields``, with the plan's
        layers, neurons and synaptic nodes and what feeds its output."""
        return cls(
            plan.T,
            layers=list(plan.layers),
            neurons=plan.neurons(),
            synaptic_nodes=list(plan.synaptic),
            output_sources=output_sources(plan.net.graph),
            **fields,
        )

    @property
    def samples(self) -> int:
        return len(self.outputs)

    def output_reached(self) -> np.ndarray | None:
        """Per sample, the first step (1-based) in which the output receives anything from the input,
        (N,): the first spike of a neuron layer feeding it (:attr:`output_sources`; plus the delays on
        the way), step 1 where the input feeds it directly; T + 1 if nothing ever reaches it. Before
        that step the output holds only its bias, the same for every input. None when unknown (a
        recording without first spikes or sources)."""
        if self.output_sources is None or self.first_spike is None:
            return None
        column = {name: k for k, name in enumerate(self.layers)}
        reached = np.full(self.samples, self.T + 1, np.int64)
        for layer, delay in self.output_sources:
            first = np.ones(self.samples, np.int64) if layer is None else self.first_spike[:, column[layer]]
            reached = np.minimum(reached, np.where(first <= self.T, first + delay, self.T + 1))
        return np.minimum(reached, self.T + 1)

    def decided(self) -> np.ndarray:
        """Whether each sample has decided at every step, (N, T): from the step in which its output
        first receives anything from the input (:meth:`output_reached`; before it, the output is the
        network's bias, the same whatever the input), at the steps where ``o(t)`` has a unique largest
        entry. All entries equal (e.g. all zero) or a tie at the top is no answer: *undecided*."""
        outputs = self.outputs.reshape(self.samples, self.T, -1)
        top = outputs.max(axis=2, initial=-np.inf, keepdims=True)
        unique = np.count_nonzero(outputs == top, axis=2) == 1
        reached = self.output_reached()
        if reached is None:
            return unique
        return unique & (np.arange(1, self.T + 1)[None, :] >= reached[:, None])

    def predictions(self) -> np.ndarray:
        """Predicted class at every step, (N, T): ``argmax o(t)`` where the sample has decided
        (:meth:`decided`), :data:`UNDECIDED` (-1) where it has not — never a class."""
        pred = np.argmax(self.outputs.reshape(self.samples, self.T, -1), axis=2)
        return np.where(self.decided(), pred, UNDECIDED)

    def accuracy(self, labels: np.ndarray) -> np.ndarray:
        """Fraction of samples whose prediction at step t is decided and correct, t = 1..T, (T,): an
        undecided sample counts as wrong (it has given no answer), whatever its label."""
        labels = np.asarray(labels)
        if labels.shape != (self.samples,):
            raise ValueError(f"labels of shape {labels.shape} do not match {self.samples} samples")
        return np.mean(self.predictions() == labels[:, None], axis=0)

    def agreement(self, ann_predictions: np.ndarray) -> np.ndarray:
        """Fraction of samples whose SNN prediction is decided and equals the ANN's, at every step (T,)."""
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
            first.output_sources,
        )


def output_sources(graph) -> tuple[tuple[str | None, int], ...]:
    """What feeds ``graph``'s output without passing another neuron layer (through pooling, flatten,
    adds, concatenations, delays, ...): (neuron layer, steps of delay on the way) pairs, the shortest
    delay per layer, and (None, delay) if the input reaches the output directly."""
    best: dict[str | None, int] = {}
    stack, seen = [(graph.output, 0)], set()
    while stack:
        name, delay = stack.pop()
        if (name, delay) in seen:
            continue
        seen.add((name, delay))
        node = graph.node(name)
        role = node.spec.role
        if role in ("activation", "input") and name != graph.output:
            key = None if role == "input" else name
            best[key] = min(delay, best.get(key, delay))
            continue
        delay += int(node.attrs.get("steps", 0)) if node.op == "delay" else 0
        stack.extend((source, delay) for source in node.inputs)
    return tuple(best.items())
