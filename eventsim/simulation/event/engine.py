"""The event engine: Numba kernels that propagate only the spikes that happen.

Per sample (samples in parallel over all cores) and per time step, every dynamic node of the
compiled program (:mod:`.program`) turns the events of its inputs into its own: a conv adds, for
each event, the kernel's contiguous rows of C_out weights to the in-bounds targets of its
channels-last accumulator; a dense layer adds one weight row; pools, adds and layout ops map events
to events (merged per index, so counts match the reference exactly); neuron layers add their
static current (computed once per sample) and the temporal bias, apply their kind's rule to every
neuron, and emit spikes (:mod:`.kernels`).
"""

from __future__ import annotations

import numba
import numpy as np

from ..engines import Engine
from ..plan import Batch, SimulationPlan
from ..recording import Recording
from .kernels.sample import run_batch
from .layout import to_graph, to_internal
from .program import build_program


class EventEngine(Engine):
    """Event-driven simulation with Numba (module docstring)."""

    name = "event"

    def __init__(self, plan: SimulationPlan) -> None:
        super().__init__(plan)
        self.program = build_program(plan)
        # static parts equal for all samples, in engine layout, made once per run
        self.shared = {
            name: to_internal(plan.shared[name], shape)
            for name, shape in zip(self.program.static_nodes, self.program.static_shapes)
            if name in plan.shared
        }

    def _static(self, x: np.ndarray) -> np.ndarray:
        """The static parts the program reads, (N, static size) in engine layout."""
        values, n, parts = self.plan.static(x), len(x), []
        for name, shape in zip(self.program.static_nodes, self.program.static_shapes):
            if name in self.shared:
                parts.append(np.broadcast_to(self.shared[name], (n, self.shared[name].shape[1])))
            else:
                parts.append(to_internal(values[name], shape))
        return np.concatenate(parts, axis=1)

    def run(self, batch: Batch) -> Recording:
        plan, p = self.plan, self.program
        n, T = len(batch.x), plan.T
        coded = plan.input_spikes(batch)
        spikes_in = coded.reshape(n, T, -1) if coded is not None else np.zeros((n, 1, 1), np.bool_)
        threads, layers, synaptic = numba.get_num_threads(), len(plan.layers), len(plan.synaptic)
        outputs = np.zeros((n, T, p.arrays.output_size), np.float32)
        per_sample = (
            np.zeros((n, layers), np.int64),
            np.full((n, layers), T + 1, np.int64),  # T + 1: the layer never fired
            np.zeros((n, synaptic), np.int64),
        )
        per_thread = (
            np.zeros((threads, layers, T), np.int64),
            np.zeros((threads, synaptic, T), np.int64),
            np.zeros((threads, p.total_neurons), np.int64),
        )
        wanted = list(batch.raster_samples)
        rasters = np.zeros((max(len(wanted), 1), T if wanted else 1, p.total_neurons if wanted else 1), np.bool_)
        slots = np.full(n, -1, np.int64)
        slots[wanted] = np.arange(len(wanted))
        run_batch(
            p.arrays,
            self._static(batch.x),
            spikes_in,
            plan.phases,
            plan.static_weights,
            plan.dynamic_weights,
            outputs,
            per_sample,
            per_thread,
            rasters,
            slots,
        )
        return self._recording(outputs, per_sample, per_thread, rasters, wanted)

    def _recording(self, outputs, per_sample, per_thread, rasters, wanted) -> Recording:
        """The batch's recording, per-neuron counts and rasters back in graph layout."""
        plan, p = self.plan, self.program
        total = per_thread[2].sum(axis=0)
        neuron_counts, raster_out = {}, {i: {} for i in wanted}
        for layer, name in enumerate(plan.layers):
            shape = plan.graph.node(name).shape
            lo, hi = p.arrays.neuron_offset[layer], p.arrays.neuron_offset[layer + 1]
            neuron_counts[name] = to_graph(total[lo:hi], shape)
            for slot, i in enumerate(wanted):
                raster_out[i][name] = to_graph(rasters[slot, :, lo:hi], shape)
        return Recording.of_batch(
            plan,
            outputs=outputs,
            spikes_per_step=per_thread[0].sum(axis=0),
            spikes_per_sample=per_sample[0],
            first_spike=per_sample[1],
            neuron_counts=neuron_counts,
            sops_per_step=per_thread[1].sum(axis=0),
            sops_per_sample=per_sample[2],
            rasters=raster_out,
        )
