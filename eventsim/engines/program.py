"""Compilation of a spiking network into the flat arrays that the event engine's kernel reads.

Only nodes with a dynamic part (see :mod:`.plan`) take part in the per-step work. Each gets an op
code, its dynamic inputs, a row of integer geometry, and offsets into shared pools of float
parameters, integer index maps, per-sample float/integer workspaces and event buffers (one slot
per neuron or element: events of a node are unique per index, so its size bounds them).
Everything is checked here, before a kernel ever indexes with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
from ..neurons import get_kind
from ..ops.pooling import avgpool_divisor
from .layout import channel_of, internal_index, to_internal
from .plan import Plan

OP_INPUT, OP_NEURON, OP_CONV, OP_DENSE, OP_AVGPOOL, OP_MAXPOOL, OP_ADD, OP_MAP, OP_AFFINE, OP_DELAY = range(10)
#: Geometry row: input (C, H, W), output (C, H, W), kernel, stride, pads (top, left), dilation, groups.
GEOMETRY = 16


@dataclass
class Program:
    """Flat description of the per-step work; see the module docstring."""

    names: list[str]
    op: np.ndarray
    size: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray
    geometry: np.ndarray
    fparam_ptr: np.ndarray
    fpool: np.ndarray
    iparam_ptr: np.ndarray
    ipool: np.ndarray
    fbuf_ptr: np.ndarray
    fbuf_size: int
    ibuf_ptr: np.ndarray
    ibuf_size: int
    ev_ptr: np.ndarray
    ev_size: int
    needs_events: np.ndarray
    layer_of: np.ndarray
    kind_code: np.ndarray
    neuron_offset: np.ndarray
    total_neurons: int
    sop_of: np.ndarray
    static_ptr: np.ndarray
    static_size: int
    static_nodes: list[str] = field(default_factory=list)
    static_shapes: list[tuple[int, ...]] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    bias_ptr: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    output_node: int = -1
    output_static: int = -1
    output_size: int = 0
    output_order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    input_size: int = 0


class _Pools:
    def __init__(self) -> None:
        self.f: list[np.ndarray] = []
        self.f_len = 0
        self.i: list[np.ndarray] = []
        self.i_len = 0

    def add_f(self, array: np.ndarray) -> int:
        start = self.f_len
        self.f.append(np.ascontiguousarray(array, np.float32).ravel())
        self.f_len += self.f[-1].size
        return start

    def add_i(self, array: np.ndarray) -> int:
        start = self.i_len
        self.i.append(np.ascontiguousarray(array, np.int64).ravel())
        self.i_len += self.i[-1].size
        return start


def _map_between(src_shape, dst_shape, graph_dst_of_src: np.ndarray) -> np.ndarray:
    """Engine position in the destination for each engine position of the source."""
    src_graph_of_internal = np.empty(int(np.prod(src_shape)), np.int64)
    src_graph_of_internal[internal_index(src_shape)] = np.arange(src_graph_of_internal.size)
    return internal_index(dst_shape)[graph_dst_of_src[src_graph_of_internal]]


def build_program(plan: Plan, T: int) -> Program:
    """Compile the dynamic part of ``plan``'s network for the event engine (for runs of T steps)."""
    graph, net = plan.graph, plan.net
    nodes = [n for n in graph.nodes if plan.dynamic[n.name]]
    index = {n.name: k for k, n in enumerate(nodes)}
    pools = _Pools()
    count = len(nodes)
    op = np.zeros(count, np.int64)
    size = np.array([int(np.prod(n.shape)) for n in nodes], np.int64)
    geometry = np.zeros((count, GEOMETRY), np.int64)
    fparam_ptr = np.full(count, -1, np.int64)
    iparam_ptr = np.full(count, -1, np.int64)
    fbuf_ptr = np.zeros(count, np.int64)
    ibuf_ptr = np.zeros(count, np.int64)
    layer_of = np.full(count, -1, np.int64)
    kind_code = np.zeros(count, np.int64)
    sop_of = np.full(count, -1, np.int64)
    in_lists: list[list[int]] = []
    fbuf = ibuf = 0
    neuron_offset = np.zeros(len(plan.layers) + 1, np.int64)
    static_nodes: list[str] = []
    static_ptr = np.full(count, -1, np.int64)  # static part of a neuron's input
    bias_rows: list[np.ndarray] = []
    bias_ptr = np.full(count, -1, np.int64)
    T_bias = net.bias_steps
    for k, node in enumerate(nodes):
        shape = node.shape
        ins = [index[i] for i in node.inputs if plan.dynamic[i]]
        in_lists.append(ins)
        if node.op == "input":
            op[k] = OP_INPUT
            # what an input spike adds: its amplitude times the normalisation's scale
            amplitude = np.float32(plan.input_amplitude(T))
            scale = np.broadcast_to(amplitude * node.params["scale"], shape)
            fparam_ptr[k] = pools.add_f(to_internal(scale, shape))
            # source (data-layout) position → engine position of the permuted input
            perm = tuple(node.attrs["perm"])
            source = tuple(node.attrs["source_shape"])
            graph_pos = np.arange(int(np.prod(source))).reshape(source).transpose(perm).ravel()
            dst_of_source = np.empty(graph_pos.size, np.int64)
            dst_of_source[graph_pos] = internal_index(shape)
            iparam_ptr[k] = pools.add_i(dst_of_source)
        elif node.spec.role == "activation":
            op[k] = OP_NEURON
            layer = plan.layers.index(node.name)
            layer_of[k] = layer
            neuron_offset[layer + 1] = neuron_offset[layer] + size[k]
            kind_code[k] = get_kind(net.layers[node.name].kind).code
            fparam_ptr[k] = pools.add_f(
                np.concatenate(
                    [to_internal(net.threshold_array(node.name), shape), to_internal(net.v0_array(node.name), shape)]
                )
            )
            static_ptr[k] = len(static_nodes)
            static_nodes.append(node.inputs[0])
            iparam_ptr[k] = pools.add_i(channel_of(shape))
            if T_bias:
                bias_ptr[k] = len(bias_rows)
                bias_rows.append(_bias_table(net, node.name, T_bias))
            fbuf_ptr[k], fbuf = fbuf, fbuf + 2 * size[k]  # membrane, input current
        elif node.op in ("conv", "dense"):
            op[k] = OP_CONV if node.op == "conv" else OP_DENSE
            src = graph.node(node.inputs[0])
            w = node.params["W"]
            if node.op == "conv":
                groups = node.attrs["groups"]
                c_out, c_g, kh, kw = w.shape
                # (groups, kh, kw, C_in/groups, C_out/groups): a spike adds contiguous rows of C_out/groups
                layout = w.reshape(groups, c_out // groups, c_g, kh, kw).transpose(0, 3, 4, 2, 1)
                fparam_ptr[k] = pools.add_f(layout)
                geometry[k, :15] = (
                    *src.shape,
                    *shape,
                    kh,
                    kw,
                    *node.attrs["stride"],
                    node.attrs["pads"][0],
                    node.attrs["pads"][1],
                    *node.attrs["dilation"],
                    groups,
                )
            else:
                fparam_ptr[k] = pools.add_f(w.T)  # (in, out): a spike adds one contiguous row
                geometry[k, 0], geometry[k, 3] = w.shape[1], w.shape[0]
            sop_of[k] = plan.synaptic.index(node.name)
            fbuf_ptr[k], fbuf = fbuf, fbuf + size[k]
        elif node.op == "avgpool":
            op[k] = OP_AVGPOOL
            src = graph.node(node.inputs[0])
            a = node.attrs
            # window sums are divided by the count at the end, as the executor does (multiplying by
            # 1/count would round differently)
            divisor = np.broadcast_to(avgpool_divisor(node, src.shape[1:]), shape)
            fparam_ptr[k] = pools.add_f(to_internal(divisor, shape))
            geometry[k, :15] = (
                *src.shape,
                *shape,
                *a["kernel"],
                *a["stride"],
                a["pads"][0],
                a["pads"][1],
                *a["dilation"],
                1,
            )
            sop_of[k] = plan.synaptic.index(node.name)
            fbuf_ptr[k], fbuf = fbuf, fbuf + size[k]
            ibuf_ptr[k], ibuf = ibuf, ibuf + 2 * size[k]
        elif node.op == "maxpool":
            op[k] = OP_MAXPOOL
            src = graph.node(node.inputs[0])
            a = node.attrs
            geometry[k, :15] = (
                *src.shape,
                *shape,
                *a["kernel"],
                *a["stride"],
                a["pads"][0],
                a["pads"][1],
                *a["dilation"],
                1,
            )
            src_size = int(np.prod(src.shape))
            fbuf_ptr[k], fbuf = fbuf, fbuf + src_size + size[k]  # cumulative input, pooled value
            ibuf_ptr[k], ibuf = ibuf, ibuf + 2 * size[k]
        elif node.op == "add":
            op[k] = OP_ADD
            fbuf_ptr[k], fbuf = fbuf, fbuf + size[k]
            ibuf_ptr[k], ibuf = ibuf, ibuf + 2 * size[k]
        elif node.op == "delay":
            op[k] = OP_DELAY
            steps = node.attrs["steps"]
            geometry[k, 0] = steps
            sop_of[k] = plan.synaptic.index(node.name)
            fbuf_ptr[k], fbuf = fbuf, fbuf + steps * size[k]  # event values per slot
            ibuf_ptr[k], ibuf = ibuf, ibuf + steps + steps * size[k]  # event counts, then indices per slot
        elif node.op == "affine":
            op[k] = OP_AFFINE
            fparam_ptr[k] = pools.add_f(to_internal(np.broadcast_to(node.params["scale"], shape), shape))
        elif node.op in ("reshape", "pad", "concat"):
            op[k] = OP_MAP
            maps = _graph_maps(graph, node)
            parts = [
                (_map_between(graph.node(i).shape, shape, m)) for i, m in zip(node.inputs, maps) if plan.dynamic[i]
            ]
            starts = [pools.add_i(p) for p in parts]
            iparam_ptr[k] = pools.add_i(np.array(starts, np.int64))
        else:
            raise UnsupportedError(f"the event engine cannot simulate op {node.op!r} (node {node.name!r})")
    out_name = graph.output
    output_node = index.get(out_name, -1)
    static_nodes.append(out_name)
    output_static = len(static_nodes) - 1
    static_shapes = [graph.node(s).shape for s in static_nodes]
    offsets = np.cumsum([0] + [int(np.prod(s)) for s in static_shapes])
    static_offsets = np.array(offsets[:-1], np.int64)
    for k in range(count):
        if static_ptr[k] >= 0:
            static_ptr[k] = static_offsets[static_ptr[k]]
    needs_events = np.zeros(count, np.bool_)
    for k, ins in enumerate(in_lists):
        for j in ins:
            if not (op[k] == OP_NEURON and op[j] in (OP_CONV, OP_DENSE)):
                needs_events[j] = True
    in_ptr = np.cumsum([0] + [len(ins) for ins in in_lists]).astype(np.int64)
    in_idx = np.array([j for ins in in_lists for j in ins], np.int64)
    ev_ptr = np.cumsum(np.concatenate([[0], size])).astype(np.int64)
    bias = np.concatenate(bias_rows) if bias_rows else np.zeros((0, max(T_bias, 1)), np.float32)
    offsets_bias = np.cumsum([0] + [len(b) for b in bias_rows]).astype(np.int64)
    for k in range(count):
        if bias_ptr[k] >= 0:
            bias_ptr[k] = offsets_bias[bias_ptr[k]]
    out_shape = graph.node(out_name).shape
    program = Program(
        names=[n.name for n in nodes],
        op=op,
        size=size,
        in_ptr=in_ptr,
        in_idx=in_idx,
        geometry=geometry,
        fparam_ptr=fparam_ptr,
        fpool=np.concatenate(pools.f) if pools.f else np.zeros(1, np.float32),
        iparam_ptr=iparam_ptr,
        ipool=np.concatenate(pools.i) if pools.i else np.zeros(1, np.int64),
        fbuf_ptr=fbuf_ptr,
        fbuf_size=int(fbuf),
        ibuf_ptr=ibuf_ptr,
        ibuf_size=int(ibuf),
        ev_ptr=ev_ptr[:-1].copy(),
        ev_size=int(ev_ptr[-1]),
        needs_events=needs_events,
        layer_of=layer_of,
        kind_code=kind_code,
        neuron_offset=neuron_offset,
        total_neurons=int(neuron_offset[-1]),
        sop_of=sop_of,
        static_ptr=static_ptr,
        static_size=int(offsets[-1]),
        static_nodes=static_nodes,
        static_shapes=static_shapes,
        bias=np.ascontiguousarray(bias, np.float32),
        bias_ptr=bias_ptr,
        output_node=output_node,
        output_static=int(static_offsets[output_static]),
        output_size=int(np.prod(out_shape)),
        output_order=internal_index(out_shape),
        input_size=int(np.prod(graph.input_shape)),
    )
    validate_program(program)
    return program


def _bias_table(net, name: str, steps: int) -> np.ndarray:
    """Temporal bias per channel (C, steps), zero after the layer's own bias steps."""
    shape = net.graph.node(name).shape
    table = np.zeros((shape[0], steps), np.float32)
    bias = net.layers[name].temporal_bias
    if bias is not None:
        per_channel = np.broadcast_to(bias.reshape(len(bias), -1), (len(bias), shape[0]))
        table[:, : len(bias)] = per_channel.T
    return table


def _graph_maps(graph, node) -> list[np.ndarray]:
    """For each input of a reshape/pad/concat node: graph-flat output position of each input position."""
    if node.op == "reshape":
        return [np.arange(int(np.prod(node.shape)), dtype=np.int64)]
    if node.op == "pad":
        c, h, w = graph.node(node.inputs[0]).shape
        top, left = node.attrs["pads"][0], node.attrs["pads"][1]
        cc, hh, ww = np.meshgrid(np.arange(c), np.arange(h) + top, np.arange(w) + left, indexing="ij")
        return [np.ravel_multi_index((cc.ravel(), hh.ravel(), ww.ravel()), node.shape).astype(np.int64)]
    axis = node.attrs["axis"]
    maps, offset = [], 0
    for name in node.inputs:
        shape = graph.node(name).shape
        grid = list(np.meshgrid(*(np.arange(d) for d in shape), indexing="ij"))
        grid[axis] = grid[axis] + offset
        maps.append(np.ravel_multi_index(tuple(g.ravel() for g in grid), node.shape).astype(np.int64))
        offset += shape[axis]
    return maps


def validate_program(p: Program) -> None:
    """Check every offset and index map against the buffers it addresses (a bad index in a
    kernel would be a crash, not an exception)."""
    n = len(p.op)
    assert p.in_ptr.shape == (n + 1,) and (p.in_idx.size == 0 or (p.in_idx.min() >= 0 and p.in_idx.max() < n))
    for k in range(n):
        for j in p.in_idx[p.in_ptr[k] : p.in_ptr[k + 1]]:
            assert j < k, "inputs must come earlier"
        assert 0 <= p.ev_ptr[k] and p.ev_ptr[k] + p.size[k] <= p.ev_size
        if p.op[k] == OP_MAP:
            starts = p.ipool[p.iparam_ptr[k] : p.iparam_ptr[k] + (p.in_ptr[k + 1] - p.in_ptr[k])]
            for j, start in zip(p.in_idx[p.in_ptr[k] : p.in_ptr[k + 1]], starts):
                m = p.ipool[start : start + p.size[j]]
                assert m.size == p.size[j] and m.min() >= 0 and m.max() < p.size[k]
        if p.op[k] == OP_INPUT:
            m = p.ipool[p.iparam_ptr[k] : p.iparam_ptr[k] + p.input_size]
            assert m.size == p.input_size and m.min() >= 0 and m.max() < p.size[k]
        if p.op[k] in (OP_CONV, OP_AVGPOOL, OP_MAXPOOL):
            g = p.geometry[k]
            assert g[3] * g[4] * g[5] == p.size[k] and min(g[6:14]) >= 0 and min(g[6], g[7], g[8], g[9]) >= 1
        if p.op[k] == OP_DELAY:
            assert p.geometry[k, 0] >= 1 and p.in_ptr[k + 1] - p.in_ptr[k] == 1
            j = p.in_idx[p.in_ptr[k]]
            assert p.size[j] == p.size[k], "a delay keeps its input's events"
        if p.op[k] == OP_NEURON:
            assert p.static_ptr[k] >= 0 and p.static_ptr[k] + p.size[k] <= p.static_size
    assert p.fbuf_ptr.max(initial=0) <= p.fbuf_size and p.ibuf_ptr.max(initial=0) <= p.ibuf_size
