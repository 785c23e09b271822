"""Compilation of a simulation plan into the flat arrays that the event kernels read.

Only nodes with a dynamic part take part in the per-step work. Each asks its op how it lowers
(``OpSpec.lower_event``; neuron layers are lowered here from their :class:`NeuronLayer`) and gets a
kernel code, its dynamic inputs, a geometry row, and offsets into shared pools of float parameters,
integer index maps, per-sample float/integer workspaces and event lists (one slot per element: the
events of a node are unique per index, so its size bounds them). Everything is checked here,
before a kernel ever indexes with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UnsupportedError
from ...ir.graph import Node
from ...ir.ops.lowering import GEOMETRY, EventLowering
from ..plan import SimulationPlan
from .kernels.checks import Room, require
from .kernels.codes import NEURON
from .kernels.state import ProgramArrays
from .kernels.table import KERNELS
from .kinds import kind_code
from .layout import channel_of, internal_index, position_map, to_internal


@dataclass
class Program:
    """A compiled plan: the kernels' arrays and what the host needs to feed and read them."""

    arrays: ProgramArrays
    names: list[str]
    static_nodes: list[str]
    static_shapes: list[tuple[int, ...]]
    static_size: int
    total_neurons: int


class _Context:
    """The :class:`~eventsim.ir.ops.lowering.LoweringContext` of a plan."""

    def __init__(self, plan: SimulationPlan) -> None:
        self.plan = plan
        self.input_amplitude = plan.amplitude

    def dynamic(self, name: str) -> bool:
        return bool(self.plan.dynamic[name])

    def shape(self, name: str) -> tuple[int, ...]:
        return self.plan.graph.node(name).shape

    def engine_layout(self, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return to_internal(values, shape)

    def engine_positions(self, shape: tuple[int, ...]) -> np.ndarray:
        return internal_index(shape)

    def position_map(self, src, dst, graph_map):
        return position_map(src, dst, graph_map)


def _bias_table(plan: SimulationPlan, name: str, steps: int) -> np.ndarray:
    """Temporal bias per channel (C, steps), zero after the layer's own bias steps."""
    shape = plan.graph.node(name).shape
    table = np.zeros((shape[0], steps), np.float32)
    bias = plan.net.layers[name].temporal_bias
    if bias is not None:
        table[:, : len(bias)] = np.broadcast_to(bias.reshape(len(bias), -1), (len(bias), shape[0])).T
    return table


def _neuron_lowering(plan: SimulationPlan, node: Node) -> EventLowering:
    """A neuron layer: θ and v0 per neuron, the channel of each neuron (for temporal biases), and its
    membrane, current and memory buffers."""
    net, shape = plan.net, node.shape
    floats = np.concatenate(
        [to_internal(net.threshold_array(node.name), shape), to_internal(net.v0_array(node.name), shape)]
    )
    size = int(np.prod(shape))
    return EventLowering("neuron", floats=floats, index_maps=(channel_of(shape),), float_work=3 * size)


class _Builder:
    """Places the lowerings of the program's nodes into the shared arrays."""

    def __init__(self, plan: SimulationPlan, nodes: list[Node]) -> None:
        self.plan, self.nodes = plan, nodes
        self.index = {n.name: k for k, n in enumerate(nodes)}
        count = len(nodes)
        self.kernel = np.zeros(count, np.int64)
        self.geometry = np.zeros((count, GEOMETRY), np.int64)
        self.fparam_ptr = np.full(count, -1, np.int64)
        self.iparam_ptr = np.full(count, -1, np.int64)
        self.fbuf_ptr = np.zeros(count, np.int64)
        self.ibuf_ptr = np.zeros(count, np.int64)
        self.layer_of = np.full(count, -1, np.int64)
        self.kind_code = np.zeros(count, np.int64)
        self.sop_of = np.full(count, -1, np.int64)
        self.static_ptr = np.full(count, -1, np.int64)
        self.bias_ptr = np.full(count, -1, np.int64)
        self.dense_output = np.zeros(count, np.bool_)
        self.neuron_offset = np.zeros(len(plan.layers) + 1, np.int64)
        self.floats: list[np.ndarray] = []
        self.ints: list[np.ndarray] = []
        self.f_len = self.i_len = self.fbuf = self.ibuf = 0
        self.static_nodes: list[str] = []
        self.bias_rows: list[np.ndarray] = []

    def _add_floats(self, array: np.ndarray) -> int:
        start, flat = self.f_len, np.ascontiguousarray(array, np.float32).ravel()
        self.floats.append(flat)
        self.f_len += flat.size
        return start

    def _add_ints(self, array: np.ndarray) -> int:
        start, flat = self.i_len, np.ascontiguousarray(array, np.int64).ravel()
        self.ints.append(flat)
        self.i_len += flat.size
        return start

    def place(self, k: int, node: Node, lowering: EventLowering) -> None:
        """Put node ``k``'s lowering into the arrays."""
        if lowering.kernel not in KERNELS:
            raise UnsupportedError(f"op {node.op!r} lowers to an unknown event kernel {lowering.kernel!r}")
        self.kernel[k] = KERNELS[lowering.kernel].code
        self.geometry[k, : len(lowering.geometry)] = lowering.geometry
        if lowering.floats is not None:
            self.fparam_ptr[k] = self._add_floats(lowering.floats)
        if lowering.index_maps:
            self.iparam_ptr[k] = self._add_ints(np.array([self._add_ints(m) for m in lowering.index_maps]))
        self.fbuf_ptr[k], self.fbuf = self.fbuf, self.fbuf + lowering.float_work
        self.ibuf_ptr[k], self.ibuf = self.ibuf, self.ibuf + lowering.int_work
        self.dense_output[k] = lowering.dense_output
        if node.spec.synaptic_events:
            self.sop_of[k] = self.plan.synaptic.index(node.name)

    def place_neurons(self, k: int, node: Node) -> None:
        """The neuron-layer parts of node ``k``: its layer, kind, static input and temporal bias."""
        plan = self.plan
        layer = plan.layers.index(node.name)
        self.layer_of[k] = layer
        self.kind_code[k] = kind_code(plan.net.layers[node.name].kind)
        self.neuron_offset[layer + 1] = self.neuron_offset[layer] + int(np.prod(node.shape))
        self.static_ptr[k] = len(self.static_nodes)  # an index until finish() makes it an offset
        self.static_nodes.append(node.inputs[0])
        if plan.net.bias_steps:
            self.bias_ptr[k] = sum(len(b) for b in self.bias_rows)
            self.bias_rows.append(_bias_table(plan, node.name, plan.net.bias_steps))

    def finish(self) -> Program:
        """The program, with offsets resolved and every index checked."""
        graph, plan = self.plan.graph, self.plan
        out_name = graph.output
        static_nodes = self.static_nodes + [out_name]
        static_shapes = [graph.node(s).shape for s in static_nodes]
        offsets = np.cumsum([0] + [int(np.prod(s)) for s in static_shapes]).astype(np.int64)
        static_ptr = np.where(self.static_ptr >= 0, offsets[np.maximum(self.static_ptr, 0)], -1)
        in_lists = [[self.index[i] for i in node.inputs if plan.dynamic[i]] for node in self.nodes]
        needs_events = np.zeros(len(self.nodes), np.bool_)
        for k, ins in enumerate(in_lists):
            for j in ins:  # a neuron layer reads a dense accumulator directly; everyone else reads events
                needs_events[j] |= not (self.kernel[k] == NEURON and self.dense_output[j])
        size = np.array([int(np.prod(n.shape)) for n in self.nodes], np.int64)
        ev_ptr = np.cumsum(np.concatenate([[0], size])).astype(np.int64)
        bias = np.concatenate(self.bias_rows) if self.bias_rows else np.zeros((0, 1), np.float32)
        out_shape = graph.node(out_name).shape
        arrays = ProgramArrays(
            kernel=self.kernel,
            size=size,
            in_ptr=np.cumsum([0] + [len(ins) for ins in in_lists]).astype(np.int64),
            in_idx=np.array([j for ins in in_lists for j in ins], np.int64),
            geometry=self.geometry,
            fparam_ptr=self.fparam_ptr,
            fpool=np.concatenate(self.floats) if self.floats else np.zeros(1, np.float32),
            iparam_ptr=self.iparam_ptr,
            ipool=np.concatenate(self.ints) if self.ints else np.zeros(1, np.int64),
            fbuf_ptr=self.fbuf_ptr,
            fbuf_size=int(self.fbuf),
            ibuf_ptr=self.ibuf_ptr,
            ibuf_size=int(self.ibuf),
            ev_ptr=ev_ptr[:-1].copy(),
            ev_size=int(ev_ptr[-1]),
            needs_events=needs_events,
            dense_output=self.dense_output,
            layer_of=self.layer_of,
            kind_code=self.kind_code,
            neuron_offset=self.neuron_offset,
            sop_of=self.sop_of,
            static_ptr=static_ptr.astype(np.int64),
            bias=np.ascontiguousarray(bias, np.float32),
            bias_ptr=self.bias_ptr,
            output_node=self.index.get(out_name, -1),
            output_static=int(offsets[-2]),
            output_size=int(np.prod(out_shape)),
            output_order=internal_index(out_shape),
        )
        names = [n.name for n in self.nodes]
        program = Program(arrays, names, static_nodes, static_shapes, int(offsets[-1]), int(self.neuron_offset[-1]))
        validate_program(program, int(np.prod(graph.input_shape)))
        return program


def build_program(plan: SimulationPlan) -> Program:
    """Compile the dynamic part of ``plan``'s network for the event kernels."""
    nodes = [n for n in plan.graph.nodes if plan.dynamic[n.name]]
    builder, ctx = _Builder(plan, nodes), _Context(plan)
    for k, node in enumerate(nodes):
        if node.spec.role == "activation":
            builder.place(k, node, _neuron_lowering(plan, node))
            builder.place_neurons(k, node)
        else:
            builder.place(k, node, node.spec.lower_event(node, ctx))
    return builder.finish()


def validate_program(program: Program, input_size: int) -> None:
    """Check every offset and index map against the buffers it addresses, node by node with its
    kernel's own check (a bad index in a kernel would be a crash, not an exception).

    Raises
    ------
    ProgramError
        Naming the node and what does not fit: a bug in an op's lowering, never the user's input.
    """
    p = program.arrays
    n = len(p.kernel)
    require(
        p.in_ptr.shape == (n + 1,) and (p.in_idx.size == 0 or (p.in_idx.min() >= 0 and p.in_idx.max() < n)),
        -1,
        "inputs",
    )
    fbuf_end = np.append(p.fbuf_ptr[1:], p.fbuf_size)
    ibuf_end = np.append(p.ibuf_ptr[1:], p.ibuf_size)
    checks = {kernel.code: kernel.check for kernel in KERNELS.values()}
    for k in range(n):
        inputs = p.in_idx[p.in_ptr[k] : p.in_ptr[k + 1]]
        require(bool(np.all(inputs < k)), k, "inputs must come earlier")
        require(0 <= p.ev_ptr[k] and p.ev_ptr[k] + p.size[k] <= p.ev_size, k, "event list")
        room = Room(int(fbuf_end[k] - p.fbuf_ptr[k]), int(ibuf_end[k] - p.ibuf_ptr[k]), program.static_size, input_size)
        checks[int(p.kernel[k])](p, k, inputs, room)
    require(p.output_static + p.output_size <= program.static_size, p.output_node, "output static part")
