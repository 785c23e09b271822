"""The reference engine: the network's dense dynamics (:mod:`eventsim.snn.dynamics`), step by step,
with everything counted from the dense arrays. It is the ground truth that every other engine must
reproduce."""

from __future__ import annotations

import numpy as np

from ..snn.dynamics import DenseDynamics
from ..snn.kinds.base import spike_counts
from .engines import Engine
from .plan import Batch, SimulationPlan
from .recording import Recording


class ReferenceEngine(Engine):
    """Clock-driven dense NumPy simulation (module docstring)."""

    name = "reference"

    def __init__(self, plan: SimulationPlan) -> None:
        super().__init__(plan)
        graph = plan.graph
        # synaptic events caused by one unit event at each input position, per synaptic node
        self.fanout = {
            name: graph.node(name).spec.fanout(graph.node(name), graph.node(graph.node(name).inputs[0]).shape)
            for name in plan.synaptic
        }

    def run(self, batch: Batch) -> Recording:
        plan, graph = self.plan, self.plan.graph
        n, T = len(batch.x), plan.T
        dynamics = DenseDynamics(
            plan.net, batch.x, T, plan.encoding, plan.seed, batch.first_index, plan.dynamic, plan.shared
        )
        layers, synaptic = plan.layers, plan.synaptic
        outputs = np.zeros((n, T, int(np.prod(graph.output_shape))), np.float32)
        spikes_step = np.zeros((len(layers), T), np.int64)
        spikes_sample = np.zeros((n, len(layers)), np.int64)
        first_spike = np.full((n, len(layers)), T + 1, np.int64)  # T + 1: the layer never fired
        counts = {name: np.zeros(graph.node(name).shape, np.int64) for name in layers}
        sops_step = np.zeros((len(synaptic), T), np.int64)
        sops_sample = np.zeros((n, len(synaptic)), np.int64)
        rasters = {
            i: {name: np.zeros((T,) + graph.node(name).shape, bool) for name in layers} for i in batch.raster_samples
        }
        for t in range(T):
            dynamic, spikes = dynamics.step(t)
            for k, name in enumerate(layers):
                fired = spike_counts(spikes[name])
                per_sample = fired.reshape(n, -1).sum(axis=1)
                spikes_step[k, t] = per_sample.sum()
                spikes_sample[:, k] += per_sample
                first_spike[:, k] = np.where((per_sample > 0) & (first_spike[:, k] > T), t + 1, first_spike[:, k])
                counts[name] += fired.sum(axis=0)
                for i in rasters:
                    rasters[i][name][t] = spikes[name][i]
            for s, name in enumerate(synaptic):
                events = dynamic[graph.node(name).inputs[0]] != 0
                per_sample = (events * self.fanout[name]).reshape(n, -1).sum(axis=1)
                sops_step[s, t] = per_sample.sum()
                sops_sample[:, s] += per_sample
            outputs[:, t] = dynamics.output.reshape(n, -1)
        return Recording.of_batch(
            plan,
            outputs=outputs,
            spikes_per_step=spikes_step,
            spikes_per_sample=spikes_sample,
            first_spike=first_spike,
            neuron_counts=counts,
            sops_per_step=sops_step,
            sops_per_sample=sops_sample,
            rasters=rasters,
        )
