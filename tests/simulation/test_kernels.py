"""Each event kernel against its NumPy twin: the op's ``spike_step`` (or the neuron kind's rule).

A small program is compiled for one op fed by a spike-coded input; the events of its inputs are set
by hand to an arbitrary event map on a binary grid (so every sum is exact), the kernel runs once (or
for several steps, for ops with state), and what it leaves — its accumulator or its events — must
equal what the op's NumPy semantics computes from the same dense maps, bit for bit.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid

from eventsim.simulation.event.kernels.neuron import neuron_step
from eventsim.simulation.event.kernels.pooling import maxpool_step, sum_step
from eventsim.simulation.event.kernels.routing import affine_step, delay_step, input_step, map_step, spread_step
from eventsim.simulation.event.kernels.sample import new_workspace
from eventsim.simulation.event.kernels.state import SampleRecord, SampleRun
from eventsim.simulation.event.kernels.synapse import accumulate_step
from eventsim.simulation.event.layout import to_graph, to_internal
from eventsim.simulation.event.program import build_program
from eventsim.simulation.plan import SimulationPlan
from eventsim.snn.kinds import get_kind
from eventsim.snn.network import NeuronLayer, SpikingNetwork


class Harness:
    """The compiled program of ``net`` (spike-coded input), one sample's workspace and record."""

    def __init__(self, net: SpikingNetwork, T: int = 6) -> None:
        self.net, self.graph, self.T = net, net.graph, T
        self.plan = SimulationPlan.build(net, T, "rate")
        self.program = build_program(self.plan)
        self.p = self.program.arrays
        self.ws = new_workspace(self.p)
        layers, synaptic, neurons = len(self.plan.layers), len(self.plan.synaptic), self.program.total_neurons
        self.rec = SampleRecord(
            np.zeros((T, self.p.output_size), np.float32),
            np.zeros(layers, np.int64),
            np.full(layers, T + 1, np.int64),
            np.zeros(synaptic, np.int64),
            np.zeros((layers, T), np.int64),
            np.zeros((synaptic, T), np.int64),
            np.zeros(max(neurons, 1), np.int64),
            np.zeros((T, max(neurons, 1)), np.bool_),
            False,
        )

    def k(self, name: str) -> int:
        return self.program.names.index(name)

    def set_events(self, name: str, dense: np.ndarray) -> None:
        """Make ``dense`` (graph layout, one sample) the events of node ``name`` in this step."""
        k, shape = self.k(name), self.graph.node(name).shape
        flat = to_internal(dense.astype(np.float32), shape)
        idx = np.flatnonzero(flat)
        base = self.p.ev_ptr[k]
        self.ws.ev_idx[base : base + len(idx)] = idx
        self.ws.ev_val[base : base + len(idx)] = flat[idx]
        self.ws.ev_n[k] = len(idx)

    def events(self, name: str, count: int) -> np.ndarray:
        """``count`` events of node ``name`` (from its kernel's return value) as a dense map."""
        k, shape = self.k(name), self.graph.node(name).shape
        flat = np.zeros(int(np.prod(shape)), np.float32)
        base = self.p.ev_ptr[k]
        np.add.at(flat, self.ws.ev_idx[base : base + count], self.ws.ev_val[base : base + count])
        self.ws.ev_n[k] = count
        return to_graph(flat, shape)

    def accumulator(self, name: str) -> np.ndarray:
        k, shape = self.k(name), self.graph.node(name).shape
        return to_graph(self.ws.fbuf[self.p.fbuf_ptr[k] : self.p.fbuf_ptr[k] + self.p.size[k]], shape)


def event_map(rng, shape, density: float) -> np.ndarray:
    """A sparse map of event values on a binary grid (spikes carry θ; scaled events other values)."""
    values = grid(rng, shape, -1.0, 1.0, 0.125)
    return np.where(rng.random(shape) < density, values, 0).astype(np.float32)


def network(b: NetBuilder) -> SpikingNetwork:
    """The builder's graph with grid thresholds for any neuron layer."""
    graph = b.graph()
    layers = {n.name: NeuronLayer(np.float32(0.5), np.float32(0.25)) for n in graph.activation_nodes()}
    return SpikingNetwork(graph, layers)


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**31),
    c_in=st.integers(1, 4),
    per_group=st.integers(1, 3),
    depthwise=st.booleans(),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    hw=st.integers(3, 7),
    density=st.sampled_from([0.05, 0.3, 1.0]),
)
def test_conv_and_dense_scatter_equal_the_ops_without_bias(
    seed, c_in, per_group, depthwise, k, stride, dilation, hw, density
):
    rng = np.random.default_rng(seed)
    groups = c_in if depthwise else 1
    c_out = groups * per_group if depthwise else per_group + 1
    pad = int(rng.integers(0, k))
    if dilation * (k - 1) + 1 > hw + 2 * pad:
        dilation = 1
    b = NetBuilder(rng, (c_in, hw, hw), normalise=False)
    conv = b.conv("x", c_out, k, stride, pad, dilation, groups)
    dense = b.dense(b.flatten(conv), 5)
    h = Harness(network(b))
    events = event_map(rng, (c_in, hw, hw), density)
    h.set_events("x", events)
    accumulate_step(h.p, h.ws, h.rec, h.k(conv), 0)
    node = h.graph.node(conv)
    expected = node.spec.spike_step(node, [events[None]], None)[0]
    np.testing.assert_array_equal(h.accumulator(conv), expected)
    fanout = node.spec.fanout(node, (c_in, hw, hw))
    assert h.rec.sops_step[h.plan.synaptic.index(conv), 0] == int(((events != 0) * fanout).sum())
    flat = event_map(rng, (int(np.prod(node.shape)),), density)
    h.set_events(h.graph.node(dense).inputs[0], flat)
    accumulate_step(h.p, h.ws, h.rec, h.k(dense), 0)
    dense_node = h.graph.node(dense)
    np.testing.assert_array_equal(h.accumulator(dense), dense_node.spec.spike_step(dense_node, [flat[None]], None)[0])


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**31),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    include=st.booleans(),
    hw=st.integers(3, 7),
    density=st.sampled_from([0.1, 0.5, 1.0]),
)
def test_average_pool_and_add_merge_events_as_the_ops_do(seed, kernel, stride, include, hw, density):
    rng = np.random.default_rng(seed)
    kernel = min(kernel, 2)  # divisors stay powers of two: exact averages
    b = NetBuilder(rng, (2, hw, hw), normalise=False)
    pad = int(rng.integers(0, kernel))
    pool = b.pool("x", "avgpool", (kernel, kernel), (stride, stride), (pad,) * 4, include)
    scaled = b.add("affine", ["x"], {}, {"scale": np.float32(0.5), "shift": np.float32(0.25)})
    total = b.add("add", ["x", scaled])
    b.dense(b.flatten(total), 2)
    h = Harness(network(b))
    events, other = event_map(rng, (2, hw, hw), density), event_map(rng, (2, hw, hw), density)
    h.set_events("x", events)
    h.set_events(scaled, other)
    node = h.graph.node(pool)
    got = h.events(pool, sum_step(h.p, h.ws, h.rec, h.k(pool), 0))
    np.testing.assert_array_equal(got, node.spec.spike_step(node, [events[None]], None)[0])
    add = h.graph.node(total)
    got = h.events(total, sum_step(h.p, h.ws, h.rec, h.k(total), 0))
    np.testing.assert_array_equal(got, add.spec.spike_step(add, [events[None], other[None]], None)[0])


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), kernel=st.integers(1, 3), stride=st.integers(1, 3), hw=st.integers(3, 7))
def test_max_pool_emits_the_growth_of_the_pooled_cumulative_input(seed, kernel, stride, hw):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (2, hw, hw), normalise=False)
    layer = b.relu("x")
    kernel = min(kernel, hw)
    pool = b.pool(layer, "maxpool", (kernel, kernel), (stride, stride), (int(rng.integers(0, kernel)),) * 4)
    b.dense(b.flatten(pool), 2)
    h = Harness(network(b))
    node = h.graph.node(pool)
    state = node.spec.spike_state(node, 1, [(2, hw, hw)])
    for t in range(h.T):
        spikes = (rng.random((2, hw, hw)) < 0.3) * np.float32(0.5)  # θ = 0.5
        h.set_events(layer, spikes)
        got = h.events(pool, maxpool_step(h.p, h.ws, h.k(pool)))
        np.testing.assert_array_equal(got, node.spec.spike_step(node, [spikes[None].astype(np.float32)], state)[0])


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), steps=st.integers(1, 4), hw=st.integers(2, 5))
def test_affine_delay_and_layout_maps_move_events_as_the_ops_do(seed, steps, hw):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (2, hw, hw), normalise=False)
    scale = grid(rng, (2, 1, 1), -1.0, 1.0, 0.25)
    affine = b.add("affine", ["x"], {}, {"scale": scale, "shift": np.float32(0.5)})
    delay = b.add("delay", [affine], {"steps": steps})
    padded = b.add("pad", [delay], {"pads": (1, 0, 2, 0)})
    joined = b.add("concat", ["x", padded], {"axis": 1})
    flat = b.flatten(joined)
    b.dense(flat, 2)
    h = Harness(network(b))
    nodes = {name: h.graph.node(name) for name in (affine, delay, padded, joined, flat)}
    state = nodes[delay].spec.spike_state(nodes[delay], 1, [(2, hw, hw)])
    for t in range(h.T):
        events = event_map(rng, (2, hw, hw), 0.4)
        h.set_events("x", events)
        expected = nodes[affine].spec.spike_step(nodes[affine], [events[None]], None)
        np.testing.assert_array_equal(h.events(affine, affine_step(h.p, h.ws, h.k(affine))), expected[0])
        expected = nodes[delay].spec.spike_step(nodes[delay], [expected], state)
        np.testing.assert_array_equal(h.events(delay, delay_step(h.p, h.ws, h.rec, h.k(delay), t)), expected[0])
        expected = nodes[padded].spec.spike_step(nodes[padded], [expected], None)
        np.testing.assert_array_equal(h.events(padded, map_step(h.p, h.ws, h.k(padded))), expected[0])
        expected = nodes[joined].spec.spike_step(nodes[joined], [events[None], expected], None)
        np.testing.assert_array_equal(h.events(joined, map_step(h.p, h.ws, h.k(joined))), expected[0])
        expected = nodes[flat].spec.spike_step(nodes[flat], [expected], None)
        np.testing.assert_array_equal(h.events(flat, map_step(h.p, h.ws, h.k(flat))), expected[0])


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), T=st.integers(1, 6))
def test_spike_coded_input_carries_its_scale(seed, T):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (2, 3, 4), normalise=True)
    b.dense(b.flatten("x"), 2)
    h = Harness(network(b), T)
    node = h.graph.input
    spikes = rng.random((T, 2, 3, 4)) < 0.4
    for t in range(T):
        got = h.events("x", input_step(h.p, h.ws, h.k("x"), t, spikes.reshape(T, -1)))
        expected = node.spec.spike_step(node, [spikes[None, t].astype(np.float32)], None)[0]
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=40)
@given(
    seed=st.integers(0, 2**31),
    kind=st.sampled_from(["if", "bistable", "ttfs", "lif"]),
    biased=st.booleans(),
    T=st.integers(1, 8),
)
def test_neuron_layer_applies_its_kinds_rule(seed, kind, biased, T):
    """Static current + events (+ temporal bias) through the kind's rule in the step's phase; a spike
    per neuron that fires, carrying θ, and the counts."""
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (6,), normalise=False)
    layer = b.relu("x")
    b.dense(layer, 2)
    theta = grid(rng, (), 0.25, 1.0, 0.25)
    v0 = grid(rng, (6,), -0.5, 0.5, 0.125)
    bias = grid(rng, (T,), -0.25, 0.25, 0.125) if biased else None
    period, stage = (2, 1) if kind in ("bistable", "ttfs") else (0, 0)
    leaky = {"leak": 0.75, "reset": str(rng.choice(["subtract", "zero"]))} if kind == "lif" else {}
    net = SpikingNetwork(b.graph(), {layer: NeuronLayer(theta, v0, kind, bias, period, stage, **leaky)})
    h = Harness(net, T)
    static = grid(rng, (6,), -0.5, 1.0, 0.125)
    run = SampleRun(
        np.concatenate([static, np.zeros(h.p.output_size, np.float32)]),
        np.zeros((T, 6), np.bool_),
        h.plan.phases,
        h.plan.static_weights,
        h.plan.dynamic_weights,
    )
    rule, v = get_kind(kind).rule, v0.astype(np.float32)
    for t in range(T):
        events = event_map(rng, (6,), 0.5)
        h.set_events("x", events)
        fired = h.events(layer, neuron_step(h.p, h.ws, h.rec, run, h.k(layer), t))
        current = static + events + (bias[t] if biased else np.float32(0))
        v, spikes = rule(v, current.astype(np.float32), theta, h.plan.phases[0, t])
        np.testing.assert_array_equal(fired, spikes * theta)
        np.testing.assert_array_equal(h.ws.fbuf[h.p.fbuf_ptr[h.k(layer)] : h.p.fbuf_ptr[h.k(layer)] + 6], v)
        assert h.rec.spikes_step[0, t] == int(spikes.sum())


@settings(max_examples=30)
@given(seed=st.integers(0, 2**31), sh=st.integers(1, 3), sw=st.integers(1, 3), hw=st.integers(1, 5))
def test_spread_copies_each_event_as_upsampling_does(seed, sh, sw, hw):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (2, hw, hw + 1), normalise=False)
    up = b.add("upsample", ["x"], {"scale": (sh, sw)})
    b.dense(b.flatten(up), 2)
    h = Harness(network(b))
    node = h.graph.node(up)
    events = event_map(rng, (2, hw, hw + 1), 0.4)
    h.set_events("x", events)
    got = h.events(up, spread_step(h.p, h.ws, h.k(up)))
    np.testing.assert_array_equal(got, node.spec.spike_step(node, [events[None]], None)[0])
