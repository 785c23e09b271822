"""The op specs' own facts, each against an independent count: the fan-out of window ops from their
ANN forward on one-hot inputs, in-bounds products from the fan-out, and the registry's rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder

from eventsim.ir.ops import OPS, get_op
from eventsim.ir.ops.base import OpSpec, register_op


def _one_hot_reach(node, in_shape, ones_node) -> np.ndarray:
    """For each input position, the sum of the output of ``ones_node`` on a one-hot input there."""
    size = int(np.prod(in_shape))
    eye = np.eye(size, dtype=np.float32).reshape((size,) + tuple(in_shape))
    out = ones_node.spec.forward(ones_node, [eye])
    return out.reshape(size, -1).sum(axis=1).reshape(in_shape)


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**31),
    c_in=st.integers(1, 3),
    depthwise=st.booleans(),
    k=st.integers(1, 3),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    hw=st.integers(3, 7),
    op=st.sampled_from(["conv", "avgpool", "maxpool"]),
)
def test_window_fanout_equals_the_reach_of_a_one_hot_input(seed, c_in, depthwise, k, stride, dilation, hw, op):
    """An input element reaches, per window holding it, C_out/groups weights (conv) or one window
    value (pools); padding reaches nothing. Counted by the ANN forward of one-hot inputs with all-one
    weights (a max pool of a one-hot map is 1 exactly where a window holds the hot element)."""
    rng = np.random.default_rng(seed)
    pad = int(rng.integers(0, k))
    if dilation * (k - 1) + 1 > hw + 2 * pad:
        dilation = 1
    b = NetBuilder(rng, (c_in, hw, hw), normalise=False)
    if op == "conv":
        groups = c_in if depthwise else 1
        name = b.conv("x", groups * 2, k, stride, pad, dilation, groups)
        node = b.nodes[-1]
        ones = node.copy(params={"W": np.ones_like(node.params["W"]), "b": np.zeros_like(node.params["b"])})
    else:
        attrs = {"kernel": (k, k), "stride": (stride, stride), "pads": (pad,) * 4, "dilation": (dilation, dilation)}
        attrs |= {"ceil_mode": False, "count_include_pad": True} if op == "avgpool" else {"ceil_mode": False}
        name = b.add(op, ["x"], attrs)
        node = b.nodes[-1]
        ones = node.copy(op="maxpool", attrs={key: v for key, v in attrs.items() if key != "count_include_pad"})
    fanout = node.spec.fanout(node, (c_in, hw, hw))
    np.testing.assert_array_equal(fanout, _one_hot_reach(node, (c_in, hw, hw), ones))
    assert node.spec.products(node, [(c_in, hw, hw)]) == fanout.sum()
    assert node.spec.macs(node, [(c_in, hw, hw)]) >= (fanout.sum() if op == "conv" else 0)
    if op == "conv" and pad == 0:  # without padding every product of the conventional count is real
        assert node.spec.macs(node, [(c_in, hw, hw)]) == fanout.sum(), name


def test_dense_and_delay_fanout():
    rng = np.random.default_rng(0)
    b = NetBuilder(rng, (7,), normalise=False)
    b.dense("x", 4)
    dense = b.nodes[-1]
    b.add("delay", [dense.name], {"steps": 3})
    delay = b.nodes[-1]
    np.testing.assert_array_equal(dense.spec.fanout(dense, (7,)), np.full(7, 4))
    assert dense.spec.products(dense, [(7,)]) == dense.spec.macs(dense, [(7,)]) == 28
    np.testing.assert_array_equal(delay.spec.fanout(delay, (4,)), np.ones(4))
    assert delay.spec.stage_delay(delay, 3) == 1 and delay.spec.stage_delay(delay, 0) == 0


def test_every_op_has_its_facets():
    """Ops that can carry spikes lower to an event kernel; activations state their bound; the
    registry refuses twice the same name and unknown names."""
    assert {"input", "conv", "dense", "affine", "avgpool", "maxpool", "add", "concat", "reshape", "pad"} <= set(OPS)
    assert {"delay", "relu", "clip", "qcfs", "floor"} <= set(OPS)
    for name, spec in OPS.items():
        assert spec.name == name and isinstance(spec, OpSpec)
        if spec.role == "activation":
            assert spec.monotone and spec.elementwise
        if spec.role in ("synaptic", "input"):
            assert type(spec).lower_event is not OpSpec.lower_event, f"{name} has no event lowering"
        if spec.synaptic_events:
            assert type(spec).fanout is not OpSpec.fanout, f"{name} counts events without a fan-out"
    with pytest.raises(ValueError, match="twice"):
        register_op(type(get_op("relu")))
    with pytest.raises(Exception, match="unknown graph op"):
        get_op("softplus")
