"""The layer-major engine: the graph layer by layer, each layer over a whole chunk of steps.

The networks are feed-forward (a DAG, delays included), so a layer's input over all steps of a chunk
is known before the layer runs. Per chunk of samples and steps, every node with a dynamic part runs
once over all the chunk's (step, sample) rows:

- a conv or dense node by the cheaper of two exact methods (:mod:`.linear`, chosen by
  :mod:`.costs` from the chunk's synaptic events and the layer's shape): event scatter of the
  non-zero inputs, or the op's forward (one BLAS product over the stacked rows);
- every other op by its own multi-step spike semantics (``OpSpec.spike_steps``: max pooling on
  running sums, delays from held values, add, concat, reshape, pooling as batches);
- a neuron layer by its kind's rule over the steps in order, in parallel over samples and blocks of
  neurons (:func:`.kernels.neuron_steps`).

Chunks are sized so that the values of a chunk fit the memory budget; the state that links chunks of
steps (membranes, running sums of max pools, held values of delays, the output) is carried over. The
linear parts of a chunk's rows are independent, so a single sample uses all cores too.
"""

from __future__ import annotations

import numba
import numpy as np

from ...errors import DataError
from ..engines import Engine
from ..event.kinds import kind_code
from ..plan import Batch, SimulationPlan
from ..recording import Recording
from . import kernels
from .checks import check_maxpool, check_neurons, check_rows
from .costs import Costs, machine_costs
from .linear import SCATTERS, GraphLayout, LinearMethods
from .record import Recorder

#: How the linear part of conv and dense nodes is computed.
METHODS = ("auto", "events", "dense")
#: Default memory budget of a chunk's values, bytes.
MEMORY = 512 * 2**20
#: Transient memory of one part of a dense product (im2col columns): parts that stay in the cache
#: were 18 % faster than 128 MiB parts on the VGG-style bench.
DENSE_PART = 8 * 2**20


class LayerEngine(Engine):
    """Layer-major simulation (module docstring).

    Parameters
    ----------
    plan : SimulationPlan
    method : {"auto", "events", "dense"}
        The cost model's choice per node and chunk, or one method everywhere.
    memory : int
        Budget in bytes for the values of one chunk (the chunk of samples and steps shrinks to fit).
    costs : Costs or dict, optional
        The cost model's measured costs (default: this machine's, :func:`~.costs.machine_costs`).
    """

    name = "layer"

    def __init__(
        self, plan: SimulationPlan, method: str = "auto", memory: int = MEMORY, costs: Costs | dict | None = None
    ) -> None:
        super().__init__(plan)
        if method not in METHODS:
            raise DataError(f"unknown method {method!r} of the layer engine", f"use one of {', '.join(METHODS)}")
        if not isinstance(memory, (int, np.integer)) or isinstance(memory, bool) or memory < 1:
            raise DataError(f"the memory budget must be a positive number of bytes, got {memory!r}")
        self.method, self.memory = method, int(memory)
        graph = plan.graph
        self.nodes = [node for node in graph.nodes if plan.dynamic[node.name]]
        self.shapes = {node.name: tuple(node.shape) for node in graph.nodes}
        self.linear, self.pools = self._lower(GraphLayout(self.shapes, dict(plan.dynamic), plan.amplitude))
        self.fanout = {
            name: np.ascontiguousarray(
                graph.node(name).spec.fanout(graph.node(name), self.shapes[graph.node(name).inputs[0]]).ravel()
            )
            for name in plan.synaptic
        }
        if isinstance(costs, dict):
            costs = Costs.from_dict(costs)
        if costs is None and method == "auto" and self.linear:
            costs = machine_costs()
        self.node_costs = {} if costs is None else {name: costs.of(m) for name, m in self.linear.items()}
        self.layer_of = {name: k for k, name in enumerate(plan.layers)}
        self.kinds = {name: kind_code(plan.net.layers[name].kind) for name in plan.layers}
        self.theta = {name: plan.net.threshold_array(name).ravel() for name in plan.layers}
        self.consumers = {node.name: 0 for node in graph.nodes}
        for node in self.nodes:
            for source in node.inputs:
                self.consumers[source] += 1
        self.chosen: dict[str, dict[str, int]] = {name: {"events": 0, "dense": 0} for name in self.linear}

    def _lower(self, layout: GraphLayout) -> tuple[dict[str, LinearMethods], dict[str, np.ndarray]]:
        """The nodes with a kernel of this engine, from the ops' event lowerings: conv and dense
        (both linear methods), max pools (their geometry row). Other nodes run their spec's
        ``spike_steps``."""
        linear, pools = {}, {}
        for node in self.nodes:
            if node.spec.role != "synaptic" or len(node.inputs) != 1 or not self.plan.dynamic[node.inputs[0]]:
                continue
            lowering = node.spec.lower_event(node, layout)
            if lowering.kernel in SCATTERS:
                work = min(DENSE_PART, self.memory // 4)
                linear[node.name] = LinearMethods(node, self.shapes[node.inputs[0]], layout, work)
            elif lowering.kernel == "maxpool":  # the op's NumPy form makes four passes over the chunk
                pools[node.name] = np.array(lowering.geometry, np.int64)
        return linear, pools

    def report(self) -> dict:
        """Which method ran the rows of each conv/dense node so far."""
        return {"method": self.method, "rows_by_method": {k: dict(v) for k, v in self.chosen.items()}}

    def chunk_shape(self, n: int) -> tuple[int, int]:
        """(samples, steps) per chunk: all steps if they fit the budget, then fewer samples, then
        fewer steps."""
        # every value of a chunk as float32, each layer's spikes, the work of ops that run whole chunks
        # (conv and dense run in parts of their own budget)
        per_row = 4 * int(np.prod(self.plan.graph.input_shape)) + sum(
            9 * int(np.prod(self.shapes[node.name]))
            + (0 if node.name in self.linear else node.spec.work_bytes(node, [self.shapes[i] for i in node.inputs]))
            for node in self.nodes
        )
        rows = max(1, self.memory // max(per_row, 1))
        samples = min(n, max(1, rows // self.plan.T))
        return samples, min(self.plan.T, max(1, rows // samples))

    def run(self, batch: Batch) -> Recording:
        plan, n = self.plan, len(batch.x)
        coded = plan.input_spikes(batch)
        recorder = Recorder(plan, n, batch.raster_samples)
        samples, steps = self.chunk_shape(n)
        self._run_chunks(batch, coded, recorder, samples, steps)
        return recorder.recording()

    def _run_chunks(self, batch: Batch, coded, recorder: Recorder, samples: int, steps: int) -> None:
        n, T = len(batch.x), self.plan.T
        for s0 in range(0, n, samples):
            s1 = min(n, s0 + samples)
            state = _ChunkState(self, batch.x[s0:s1])
            for t0 in range(0, T, steps):
                t1 = min(T, t0 + steps)
                spikes_in = None if coded is None else coded[s0:s1, t0:t1]
                self._advance(state, spikes_in, t0, t1, recorder.part(s0, s1, t0, t1))
            recorder.add_neuron_counts(state.neuron_counts)

    def _advance(self, state: _ChunkState, spikes_in, t0: int, t1: int, record) -> None:
        """Run every dynamic node over steps t0..t1 of the chunk's samples."""
        values: dict[str, np.ndarray] = {}
        left = dict(self.consumers)
        for node in self.nodes:
            name, spec = node.name, node.spec
            if spec.role == "input":
                coded = np.swapaxes(spikes_in, 0, 1) * np.float32(self.plan.amplitude)
                out = spec.spike_steps(node, [coded], None)
            elif spec.role == "activation":
                out = self._neurons(state, name, values, t0, t1, record)
            else:
                inputs = [values[i] if i in values else state.zeros(i, t1 - t0) for i in node.inputs]
                out = self._synaptic(node, inputs, state, record)
            values[name] = np.asarray(out, np.float32)
            for source in node.inputs:
                left[source] -= 1
                if left[source] == 0 and source != self.plan.graph.output:
                    values.pop(source, None)
        state.accumulate(values.get(self.plan.graph.output), t0, t1, record)

    def _synaptic(self, node, inputs: list[np.ndarray], state: _ChunkState, record) -> np.ndarray:
        """A node between neuron layers over a chunk: its synaptic events counted (exactly, from the
        non-zero inputs) if it has any, then its own kernel or its spec's ``spike_steps``."""
        name, (steps, n) = node.name, inputs[0].shape[:2]
        if name in self.fanout:
            flat = np.ascontiguousarray(inputs[0], np.float32).reshape(steps * n, -1)
            check_rows(flat, self.fanout[name].size)
            sops = np.empty(steps * n, np.int64)
            kernels.count_events(flat, self.fanout[name], sops)
            record.sops(self.plan.synaptic.index(name), sops.reshape(steps, n))
            if name in self.linear:
                return self._linear(name, flat, int(sops.sum())).reshape((steps, n) + self.shapes[name])
        if name in self.pools:
            return self._maxpool(name, inputs[0], state)
        return node.spec.spike_steps(node, inputs, state.op_state.get(name))

    def _linear(self, name: str, rows: np.ndarray, sops: int) -> np.ndarray:
        methods, method = self.linear[name], self.method
        if method == "auto":
            method = self.node_costs[name].choose(len(rows), sops)
        self.chosen[name][method] += len(rows)
        return methods.events(rows) if method == "events" else methods.dense(rows)

    def _maxpool(self, name: str, x: np.ndarray, state: _ChunkState) -> np.ndarray:
        """Max pool ``name`` over a chunk (on cumulative counts, :func:`.kernels.maxpool_steps`)."""
        steps, n = x.shape[:2]
        x = np.ascontiguousarray(x, np.float32).reshape(steps, n, -1)
        cumulative, previous = (a.reshape(n, -1) for a in state.op_state[name])
        check_maxpool(self.pools[name], x, cumulative, previous)
        out = np.empty((steps, n, previous.shape[1]), np.float32)
        kernels.maxpool_steps(x, self.pools[name], cumulative, previous, out)
        return out.reshape((steps, n) + self.shapes[name])

    def _neurons(self, state: _ChunkState, name: str, values, t0: int, t1: int, record) -> np.ndarray:
        """Neuron layer ``name`` over steps t0..t1: its values (spikes × θ)."""
        plan, k = self.plan, self.layer_of[name]
        source, steps, n = plan.graph.node(name).inputs[0], t1 - t0, state.n
        size = int(np.prod(self.shapes[name]))
        current = (
            np.ascontiguousarray(values[source], np.float32).reshape(steps, n, size)
            if source in values
            else np.zeros((0, 0, 0), np.float32)
        )
        out = np.empty((steps, n, size), np.float32)
        block = neuron_block(size, n)
        counts = np.empty((steps, n, -(-size // block)), np.int64)
        arrays = (
            state.static_rows(source),
            current,
            state.bias(name, t0, t1),
            self.theta[name],
            np.ascontiguousarray(plan.phases[k, t0:t1], np.float32),
            state.membrane[name],
            state.memory[name],
            out,
            counts,
            state.neuron_counts[name],
        )
        check_neurons(*arrays, block)
        kernels.neuron_steps(self.kinds[name], *arrays, block)
        record.spikes(k, counts.sum(axis=2), out)
        return out.reshape((steps, n) + self.shapes[name])


def neuron_block(size: int, n: int) -> int:
    """Neurons per parallel job: whole layers when there are samples enough for all cores, else
    blocks of at least 512 neurons, about four per core."""
    threads = numba.get_num_threads()
    if n >= 2 * threads:
        return max(size, 1)
    jobs = -(-4 * threads // n)
    return max(512, -(-size // jobs))


class _ChunkState:
    """What links the step chunks of one chunk of samples: static parts, membranes and memories, op states, the
    output accumulator and the per-neuron spike counts."""

    def __init__(self, engine: LayerEngine, x: np.ndarray) -> None:
        plan = engine.plan
        self.engine, self.n = engine, len(x)
        self.static = plan.static(x)
        self.membrane = {
            name: np.repeat(plan.net.v0_array(name).astype(np.float32).reshape(1, -1), self.n, axis=0)
            for name in plan.layers
        }
        # the second number per neuron of kinds with memory (a signed neuron's net count), from 0
        self.memory = {name: np.zeros_like(self.membrane[name]) for name in plan.layers}
        self.neuron_counts = {name: np.zeros((self.n, self.theta_size(name)), np.int64) for name in plan.layers}
        self.op_state = {
            node.name: node.spec.spike_state(node, self.n, [engine.shapes[i] for i in node.inputs])
            for node in engine.nodes
            if node.spec.role == "synaptic"
        }
        self.output = np.zeros((self.n,) + tuple(plan.graph.output_shape), np.float32)

    def theta_size(self, name: str) -> int:
        return self.engine.theta[name].size

    def zeros(self, name: str, steps: int) -> np.ndarray:
        """The dynamic part of a node without one: zeros."""
        return np.zeros((steps, self.n) + self.engine.shapes[name], np.float32)

    def static_rows(self, name: str) -> np.ndarray:
        """Static part of node ``name`` as (1 or N, size): one row when all samples share it."""
        value = self.static[name]
        rows = value[:1] if value.strides[0] == 0 or self.n == 1 else value
        return np.ascontiguousarray(rows, np.float32).reshape(len(rows), -1)

    def bias(self, name: str, t0: int, t1: int) -> np.ndarray:
        """Temporal bias of layer ``name`` in steps t0..t1 (:meth:`SpikingNetwork.bias_rows`)."""
        return self.engine.plan.net.bias_rows(name, t0, t1)

    def accumulate(self, dynamic: np.ndarray | None, t0: int, t1: int, record) -> None:
        """The output over steps t0..t1 (``dynamic``: its dynamic part, or None)."""
        plan = self.engine.plan
        static = self.static[plan.graph.output]
        step = plan.static_weights[t0:t1].reshape((-1,) + (1,) * static.ndim) * static[None]
        if dynamic is not None:
            step = step + plan.dynamic_weights[t0:t1].reshape((-1,) + (1,) * static.ndim) * dynamic
        # o(t) = o(t - 1) + step(t) in step order, as the reference adds (accumulate is sequential)
        running = np.add.accumulate(np.concatenate([self.output[None], step.astype(np.float32)]), axis=0)[1:]
        self.output = running[-1]
        record.outputs(np.swapaxes(running, 0, 1).reshape(self.n, t1 - t0, -1))
