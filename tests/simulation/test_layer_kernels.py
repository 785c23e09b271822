"""The layer engine's kernels against their NumPy twins and against independent oracles: the conv
and dense scatters against the ops' own forwards (im2col and BLAS), the neuron kernel against each
kind's rule stepped in NumPy. Values on a binary grid make every sum exact, so all comparisons are
bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import grid

from eventsim.ir.graph import Node
from eventsim.simulation.event.kinds import RULES
from eventsim.simulation.layer import kernels, twins
from eventsim.simulation.layer.linear import GraphLayout, LinearMethods
from eventsim.snn.kinds import get_kind


def sparse_rows(rng, rows, size, density):
    values = grid(rng, (rows, size), -1.0, 1.0, 0.25)
    return np.ascontiguousarray(np.where(rng.random((rows, size)) < density, values, 0), np.float32)


def methods(node, in_shape, work=2**20):
    node.shape = node.spec.infer_shape(node, [in_shape])
    layout = GraphLayout({"x": in_shape, node.name: node.shape}, {"x": True, node.name: True}, 1.0)
    return LinearMethods(node, in_shape, layout, work)


def assert_methods_equal(m, x, oracle, twin_kernel):
    """Both methods of ``m`` and the scatter's NumPy twin give ``oracle`` on rows ``x``, bit for bit."""
    np.testing.assert_array_equal(m.events(x), oracle)
    np.testing.assert_array_equal(m.dense(x), oracle)
    twin = np.empty_like(oracle)
    twin_kernel(x, m.weights, m.geometry, twin, 1)
    np.testing.assert_array_equal(twin, oracle)


@st.composite
def convs(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 4))
    k, stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h, w = draw(st.integers(dilation * (k - 1) + 1, 9)), draw(st.integers(dilation * (k - 1) + 1, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    attrs = {"stride": (stride, stride), "pads": pads, "dilation": (dilation, dilation), "groups": groups}
    params = {"W": grid(rng, (c_out, c_in // groups, k, k), -1, 1, 0.125), "b": grid(rng, (c_out,), -1, 1, 0.25)}
    return Node("c", "conv", ("x",), attrs, params), (c_in, h, w), rng


@settings(max_examples=60, deadline=None)
@given(case=convs(), rows=st.integers(1, 9), density=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_conv_scatter_equals_the_conv_forward(case, rows, density):
    node, in_shape, rng = case
    m = methods(node, in_shape, work=1)  # the dense method in parts of one row
    x = sparse_rows(rng, rows, int(np.prod(in_shape)), density)
    oracle = node.spec.forward(node.spec.without_constant(node), [x.reshape((rows,) + in_shape)]).reshape(rows, -1)
    assert_methods_equal(m, x, oracle, twins.conv_events)


@settings(max_examples=30, deadline=None)
@given(
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 20),
    rows=st.integers(1, 9),
    density=st.sampled_from([0.0, 0.2, 1.0]),
    seed=st.integers(0, 2**31),
)
def test_dense_scatter_equals_the_matrix_product(n_in, n_out, rows, density, seed):
    rng = np.random.default_rng(seed)
    params = {"W": grid(rng, (n_out, n_in), -1, 1, 0.125), "b": grid(rng, (n_out,), -1, 1, 0.25)}
    m = methods(Node("d", "dense", ("x",), {}, params), (n_in,))
    x = sparse_rows(rng, rows, n_in, density)
    oracle = x @ params["W"].T
    assert_methods_equal(m, x, oracle, twins.dense_events)


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 20), size=st.integers(1, 50), seed=st.integers(0, 2**31))
def test_event_count_is_the_fanout_of_the_non_zeros(rows, size, seed):
    rng = np.random.default_rng(seed)
    x = sparse_rows(rng, rows, size, 0.3)
    fanout = rng.integers(0, 30, size)
    got, want = np.empty(rows, np.int64), np.empty(rows, np.int64)
    kernels.count_events(x, fanout, got)
    twins.count_events(x, fanout, want)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [sum(fanout[i] for i in range(size) if x[r, i] != 0) for r in range(rows)])


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(RULES),
    steps=st.integers(1, 12),
    n=st.integers(1, 4),
    size=st.integers(1, 1200),
    shared=st.booleans(),
    dynamic=st.booleans(),
    biased=st.booleans(),
    block=st.sampled_from([1, 7, 512, 2000]),
    seed=st.integers(0, 2**31),
)
def test_neuron_kernel_equals_the_kinds_rule(kind, steps, n, size, shared, dynamic, biased, block, seed):
    rng = np.random.default_rng(seed)
    code = RULES.index(kind)
    phase_values = {
        "if": [3],
        "bistable": [0, 1, 2],
        "ttfs": [0, 1, 2, 3, -3],
        "lif": [0.5, 0.875, 1, -0.75, -1],
        "single_spike": [0.5, 1],
        "burst": [1, 2, 5],
        "signed": [3],
    }[kind]
    phases = rng.choice(phase_values, steps).astype(np.float32)
    static = grid(rng, (1 if shared else n, size), -1, 1, 0.125)
    current = grid(rng, (steps, n, size), -1, 1, 0.25) if dynamic else np.zeros((0, 0, 0), np.float32)
    bias = grid(rng, (steps, size), -0.5, 0.5, 0.125) if biased else np.zeros((0, 0), np.float32)
    theta = grid(rng, (size,), 0.25, 2, 0.25)
    v0 = grid(rng, (n, size), -1, 1, 0.125)
    blocks = -(-size // block)
    results = []
    for impl in (kernels.neuron_steps, twins.neuron_steps):
        v, values = v0.copy(), np.empty((steps, n, size), np.float32)
        memory = np.zeros((n, size), np.float32)
        counts, total = np.empty((steps, n, blocks), np.int64), np.zeros((n, size), np.int64)
        impl(code, static, current, bias, theta, phases, v, memory, values, counts, total, block)
        results.append((v, memory, values, counts, total))
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)
    # the twin is the kind's rule itself, step by step
    spec, v, memory = get_kind(kind), v0.copy(), np.zeros((n, size), np.float32)
    for t in range(steps):
        c = static + (current[t] if dynamic else 0) + (bias[t] if biased else 0)
        v, spike, memory = spec.step(v, c, theta, phases[t], memory)
        np.testing.assert_array_equal(results[0][2][t], (spike * theta).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    pads=st.tuples(*[st.integers(0, 1)] * 4),
    ceil=st.booleans(),
    hw=st.integers(3, 8),
    chunks=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**31),
)
def test_maxpool_kernel_equals_the_ops_steps(k, stride, pads, ceil, hw, chunks, seed):
    """Over consecutive chunks (state carried), as the op's own multi-step form and its twin."""
    rng = np.random.default_rng(seed)
    attrs = {"kernel": (k, k), "stride": (stride, stride), "pads": pads, "dilation": (1, 1), "ceil_mode": ceil}
    node = Node("p", "maxpool", ("x",), attrs)
    in_shape = (2, hw, hw)
    try:
        node.shape = node.spec.infer_shape(node, [in_shape])
    except Exception:
        return  # windows that cover only padding: not a valid pool
    layout = GraphLayout({"x": in_shape, "p": node.shape}, {"x": True, "p": True}, 1.0)
    geo = np.array(node.spec.lower_event(node, layout).geometry, np.int64)
    n = 2
    state = node.spec.spike_state(node, n, [in_shape])
    cum, prev = np.zeros((n, 2 * hw * hw), np.float32), np.zeros((n, int(np.prod(node.shape))), np.float32)
    cum_t, prev_t = cum.copy(), prev.copy()
    for steps in chunks:
        x = grid(rng, (steps, n) + in_shape, 0, 1, 0.5) * (rng.random((steps, n) + in_shape) < 0.4)
        x = x.astype(np.float32)
        want = node.spec.spike_steps(node, [x], state).reshape(steps, n, -1)
        got, twin = np.empty_like(want), np.empty_like(want)
        kernels.maxpool_steps(x.reshape(steps, n, -1), geo, cum, prev, got)
        twins.maxpool_steps(x.reshape(steps, n, -1), geo, cum_t, prev_t, twin)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(twin, want)
