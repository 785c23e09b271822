"""The ops' training facet against central finite differences of their own forward: the gradient of
every input and every trainable param. Inputs are float64, but some forwards round to float32
(the convolution), hence large steps for the ops linear in what is varied (exact for any step) and
tolerances of 1e-3."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.ir.graph import Node
from eventsim.ir.ops.base import get_op


def _node(op, attrs, params, in_shapes):
    node = Node("n", op, tuple(f"i{k}" for k in range(len(in_shapes))), attrs, params)
    node.shape = node.spec.infer_shape(node, in_shapes)
    return node


def _numeric(f, array, eps=1e-3):
    out = np.zeros_like(array)
    for idx in np.ndindex(array.shape):
        old = array[idx]
        array[idx] = old + eps
        up = f()
        array[idx] = old - eps
        down = f()
        array[idx] = old
        out[idx] = (up - down) / (2 * eps)
    return out


def check_backward(node, in_shapes, rng, eps=0.1):
    spec = get_op(node.op)
    xs = [rng.normal(size=(2,) + s) for s in in_shapes]
    node.params = {k: v.astype(np.float64) for k, v in node.params.items()}
    grad = rng.normal(size=(2,) + node.shape)

    def loss():
        return float((spec.forward(node, xs) * grad).sum())

    grads, params = spec.backward(node, xs, grad)
    for x, g in zip(xs, grads):
        np.testing.assert_allclose(g, _numeric(loss, x, eps), rtol=1e-3, atol=1e-3)
    for key, g in params.items():
        np.testing.assert_allclose(g, _numeric(loss, node.params[key], eps), rtol=1e-3, atol=1e-3)
    return params


@settings(max_examples=25, deadline=None)
@given(
    groups=st.sampled_from([1, 2]),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    pad=st.integers(0, 2),
    dilation=st.integers(1, 2),
    seed=st.integers(0, 2**16),
)
def test_conv_backward_matches_finite_differences(groups, k, stride, pad, dilation, seed):
    rng = np.random.default_rng(seed)
    shape = (2 * groups, 6, 5)
    w = rng.normal(size=(2 * groups, 2, k, k))
    node = _node(
        "conv",
        {"stride": (stride, 1), "pads": (pad, 0, pad, pad), "dilation": (dilation, 1), "groups": groups},
        {"W": w, "b": rng.normal(size=2 * groups)},
        [shape],
    )
    params = check_backward(node, [shape], rng)
    assert set(params) == {"W", "b"}


@settings(max_examples=25, deadline=None)
@given(
    op=st.sampled_from(["avgpool", "maxpool"]),
    k=st.integers(2, 3),
    stride=st.integers(1, 3),
    pad=st.integers(0, 1),
    ceil=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_pool_backward_matches_finite_differences(op, k, stride, pad, ceil, seed):
    attrs = {"kernel": (k, k), "stride": (stride, stride), "pads": (pad, pad, 0, pad), "dilation": (1, 1)}
    attrs["ceil_mode"] = ceil
    if op == "avgpool":
        attrs["count_include_pad"] = bool(seed % 2)
    shape = (2, 5, 6)
    node = _node(op, attrs, {}, [shape])
    # max pooling computes in float64 here: tiny steps, so that no window changes its winner
    check_backward(node, [shape], np.random.default_rng(seed), 1e-7 if op == "maxpool" else 0.1)


@pytest.mark.parametrize(
    "op, attrs, params, shapes",
    [
        ("dense", {}, {"W": np.ones((3, 5)), "b": np.ones(3)}, [(5,)]),
        ("add", {}, {}, [(2, 3, 3), (2, 3, 3), (2, 3, 3)]),
        ("concat", {"axis": 0}, {}, [(2, 3, 3), (1, 3, 3)]),
        ("concat", {"axis": 2}, {}, [(2, 3, 1), (2, 3, 4)]),
        ("reshape", {"shape": (18,)}, {}, [(2, 3, 3)]),
        ("pad", {"pads": (1, 0, 2, 1)}, {}, [(2, 3, 3)]),
        ("affine", {}, {"scale": np.array([[[2.0]], [[-0.5]]]), "shift": np.zeros((2, 1, 1))}, [(2, 3, 3)]),
        ("upsample", {"scale": (2, 3)}, {}, [(2, 2, 3)]),
        ("delay", {"steps": 2}, {}, [(4,)]),
    ],
)
def test_other_ops_backward_matches_finite_differences(op, attrs, params, shapes):
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=v.shape) if op == "dense" else v for k, v in params.items()}
    check_backward(_node(op, attrs, params, shapes), shapes, rng)


@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1)])
def test_spiking_max_pool_backward_routes_through_cumulative_counts(pads):
    """The spiking max pool's output is the growth of the pooled running sums: its backward equals
    finite differences of that map (real-valued inputs away from ties)."""
    rng = np.random.default_rng(3)
    attrs = {"kernel": (2, 2), "stride": (2, 2), "pads": pads, "dilation": (1, 1), "ceil_mode": False}
    node = _node("maxpool", attrs, {}, [(1, 4, 4)])
    spec = get_op("maxpool")
    x = rng.random((5, 2, 1, 4, 4))
    grad = rng.normal(size=(5, 2) + node.shape)

    def loss():
        state = spec.spike_state(node, 2, [(1, 4, 4)])
        return float((spec.spike_steps(node, [x], state) * grad).sum())

    (g,), _ = spec.spike_backward(node, [x], grad)
    # small steps (no winner may change), so float32 rounding of the running sums sets the tolerance
    np.testing.assert_allclose(g, _numeric(loss, x, eps=1e-4), rtol=1e-2, atol=1e-2)


def test_spiking_backward_of_a_weighted_op_gives_no_bias_gradient():
    """Spikes go through W alone (the bias is the static part), so the dynamic part's backward has
    a weight gradient and no bias gradient."""
    rng = np.random.default_rng(1)
    node = _node("dense", {}, {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=3)}, [(4,)])
    x, grad = rng.normal(size=(6, 2, 4)), rng.normal(size=(6, 2, 3))
    (gx,), params = get_op("dense").spike_backward(node, [x], grad)
    assert set(params) == {"W"}
    np.testing.assert_allclose(params["W"], np.einsum("tno,tni->oi", grad, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gx, grad @ node.params["W"], rtol=1e-5, atol=1e-6)
