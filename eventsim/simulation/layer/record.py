"""What the layer engine records of a batch, filled chunk by chunk: the same recording as every
engine's (:class:`~eventsim.simulation.recording.Recording`), from the counts its kernels return."""

from __future__ import annotations

import numpy as np

from ..plan import SimulationPlan
from ..recording import Recording


class Recorder:
    """The recording of one batch of ``n`` samples, with rasters of ``raster_samples``."""

    def __init__(self, plan: SimulationPlan, n: int, raster_samples: tuple[int, ...]) -> None:
        T, layers, synaptic = plan.T, len(plan.layers), len(plan.synaptic)
        self.plan = plan
        self.outputs = np.zeros((n, T, int(np.prod(plan.graph.output_shape))), np.float32)
        self.spikes_step = np.zeros((layers, T), np.int64)
        self.spikes_sample = np.zeros((n, layers), np.int64)
        self.first_spike = np.full((n, layers), T + 1, np.int64)  # T + 1: the layer never fired
        self.sops_step = np.zeros((synaptic, T), np.int64)
        self.sops_sample = np.zeros((n, synaptic), np.int64)
        self.counts = {name: np.zeros(int(np.prod(plan.graph.node(name).shape)), np.int64) for name in plan.layers}
        self.rasters = {
            i: {name: np.zeros((T, self.counts[name].size), bool) for name in plan.layers} for i in raster_samples
        }

    def part(self, s0: int, s1: int, t0: int, t1: int) -> RecorderPart:
        """What samples s0..s1 in steps t0..t1 write to."""
        return RecorderPart(self, s0, s1, t0, t1)

    def add_neuron_counts(self, counts: dict[str, np.ndarray]) -> None:
        """Add per-sample spike counts of every neuron, (samples, size) per layer."""
        for name, per_sample in counts.items():
            self.counts[name] += per_sample.sum(axis=0)

    def recording(self) -> Recording:
        shapes = {name: tuple(self.plan.graph.node(name).shape) for name in self.plan.layers}
        return Recording.of_batch(
            self.plan,
            outputs=self.outputs,
            spikes_per_step=self.spikes_step,
            spikes_per_sample=self.spikes_sample,
            first_spike=self.first_spike,
            neuron_counts={name: c.reshape(shapes[name]) for name, c in self.counts.items()},
            sops_per_step=self.sops_step,
            sops_per_sample=self.sops_sample,
            rasters={
                i: {name: r.reshape((self.plan.T,) + shapes[name]) for name, r in layers.items()}
                for i, layers in self.rasters.items()
            },
        )


class RecorderPart:
    """One chunk's window into a :class:`Recorder`."""

    def __init__(self, recorder: Recorder, s0: int, s1: int, t0: int, t1: int) -> None:
        self.r, self.s0, self.s1, self.t0, self.t1 = recorder, s0, s1, t0, t1

    def sops(self, s: int, per_row: np.ndarray) -> None:
        """Synaptic events of synaptic node ``s`` per (step, sample) of the chunk."""
        self.r.sops_step[s, self.t0 : self.t1] += per_row.sum(axis=1)
        self.r.sops_sample[self.s0 : self.s1, s] += per_row.sum(axis=0)

    def spikes(self, k: int, per_row: np.ndarray, values: np.ndarray) -> None:
        """Spikes of layer ``k``: counts per (step, sample), and its values (steps, samples, size),
        non-zero where a neuron spiked."""
        r = self.r
        r.spikes_step[k, self.t0 : self.t1] += per_row.sum(axis=1)
        r.spikes_sample[self.s0 : self.s1, k] += per_row.sum(axis=0)
        fired = per_row > 0
        first = np.where(fired.any(axis=0), self.t0 + np.argmax(fired, axis=0) + 1, r.plan.T + 1)
        r.first_spike[self.s0 : self.s1, k] = np.minimum(r.first_spike[self.s0 : self.s1, k], first)
        name = r.plan.layers[k]
        for i in r.rasters:
            if self.s0 <= i < self.s1:
                r.rasters[i][name][self.t0 : self.t1] = values[:, i - self.s0] != 0

    def outputs(self, running: np.ndarray) -> None:
        """The output accumulator (samples, steps, classes) of the chunk."""
        self.r.outputs[self.s0 : self.s1, self.t0 : self.t1] = running
