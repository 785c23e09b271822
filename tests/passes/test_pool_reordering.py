"""A max pool before a BatchNorm and an activation (Conv → MaxPool → BN → ReLU, after an earlier
ReLU, so the conv receives spikes) moved behind them: ``f(max(a, b)) = max(f(a), f(b))`` for the
non-decreasing per-element map ``f`` = activation ∘ affine (scales >= 0), so the max pool pools
spikes and the affine folds into the conv.

Oracles: onnxruntime for the ANN function of generated ONNX graphs; the reference engine for every
other engine on the converted networks (spikes identical); the ANN for the spiking network at large T.
"""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_same_spikes, simulate_with
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx_builders import Builder, check_agrees, data, ops_of
from test_affine_folding import batchnorm, channel_params, flat_size

import eventsim
from eventsim import UnsupportedError
from eventsim.ir.graph import Graph, Node
from eventsim.ir.ops import get_op

seeds = st.integers(0, 2**16)


def activation(b: Builder, x: str, kind: str) -> str:
    """ReLU, Clip(0, 1.5) or a QCFS chain (Div → Clip → Mul → Add 0.5 → Floor → Div → Mul, L = 4, λ = 2)."""
    if kind == "relu":
        return b.op("Relu", [x])
    if kind == "clip":
        return b.op("Clip", [x, b.const(np.float32(0)), b.const(np.float32(1.5))])
    levels, lam = np.float32(4), np.float32(2)
    y = b.op("Clip", [b.op("Div", [x, b.const(lam)]), b.const(np.float32(0)), b.const(np.float32(1))])
    y = b.op("Floor", [b.op("Add", [b.op("Mul", [y, b.const(levels)]), b.const(np.float32(0.5))])])
    return b.op("Mul", [b.op("Div", [y, b.const(levels)]), b.const(lam)])


def pool_bn_model(b: Builder, c: int, pool: dict, bn: str, act: str, seed_scale=None) -> str:
    """Conv → ReLU → Conv → MaxPool(``pool``) → [BatchNorm | none] → ``act`` → Flatten → Gemm.

    ``bn``: "positive" (scales in [0.3, 3]), "zero" (one channel's scale 0), "negative" (one
    channel's scale negative) or "none"."""
    y = b.op("Relu", [b.conv("x", b.input_shape[0], 3, (3, 3), pads=[1, 1, 1, 1])])
    y = b.op("MaxPool", [b.conv(y, 3, c, (3, 3))], name="the_pool", **pool)
    if bn != "none":
        scale, shift = channel_params(b.rng, c, 0.3, 3.0) if seed_scale is None else seed_scale
        if bn in ("zero", "negative"):
            scale[-1] = 0.0 if bn == "zero" else -1.5
        y = batchnorm(b, y, scale, shift, name="the_bn")
    y = b.op("Flatten", [activation(b, y, act)])
    return b.op("Gemm", [y, b.const(b.randn(4, flat_size(b, y))), b.const(b.randn(4))], transB=1)


def max_pool(kernel: int, stride: int, pads: int) -> dict:
    return {"kernel_shape": [kernel, kernel], "strides": [stride, stride], "pads": [pads] * 4}


def assert_pools_follow_activations(graph: Graph) -> None:
    """Every max pool reads an activation, and no affine is left (it folded into the conv)."""
    for node in graph.nodes:
        if node.op == "maxpool":
            assert graph.node(node.inputs[0]).spec.role == "activation", graph.summary()
    assert "affine" not in ops_of(graph), graph.summary()


@settings(max_examples=examples(30), deadline=None)
@given(
    c=st.integers(1, 4),
    hw=st.integers(7, 10),
    kernel=st.integers(2, 3),
    stride=st.integers(1, 2),
    padded=st.booleans(),
    bn=st.sampled_from(["positive", "zero", "none"]),
    act=st.sampled_from(["relu", "clip"]),
    n=st.integers(1, 3),
    seed=seeds,
)
def test_moved_pool_matches_onnxruntime(c, hw, kernel, stride, padded, bn, act, n, seed):
    """The ANN function is unchanged (onnxruntime), with and without max-pool padding (−∞ in ONNX,
    never alone in a window since pads < kernel), and the pool ends up after the activation."""
    b = Builder((2, hw, hw), 13, "N", seed)
    out = pool_bn_model(b, c, max_pool(kernel, stride, 1 if padded else 0), bn, act)
    graph = check_agrees(b.model(out), data((n, 2, hw, hw), seed))
    assert_pools_follow_activations(graph)
    assert ops_of(graph) == ["input", "conv", "relu", "conv", act, "maxpool", "reshape", "dense"], graph.summary()


def test_a_qcfs_activation_moves_in_front_of_the_pool_too():
    b = Builder((2, 8, 8), 13, "N", 3)
    out = pool_bn_model(b, 3, max_pool(2, 2, 0), "positive", "qcfs")
    graph = check_agrees(b.model(out), data((4, 2, 8, 8), 3))
    assert_pools_follow_activations(graph)
    assert ops_of(graph)[3:6] == ["conv", "qcfs", "maxpool"], graph.summary()


def test_several_affines_in_a_row_move_with_the_activation():
    """MaxPool → Mul → Add (two per-channel affines, scales >= 0) → ReLU."""
    b = Builder((2, 8, 8), 13, "N", 4)
    y = b.op("Relu", [b.conv("x", 2, 3, (3, 3), pads=[1, 1, 1, 1])])
    y = b.op("MaxPool", [b.conv(y, 3, 3, (3, 3))], kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Mul", [y, b.const(np.array([0.5, 0.0, 2.0], np.float32).reshape(3, 1, 1))])
    y = b.op("Relu", [b.op("Add", [y, b.const(b.randn(3, 1, 1))])])
    out = b.op("Gemm", [b.op("Flatten", [y]), b.const(b.randn(4, 27)), b.const(b.randn(4))], transB=1)
    graph = check_agrees(b.model(out), data((3, 2, 8, 8), 4))
    assert_pools_follow_activations(graph)


def test_a_pool_read_elsewhere_too_stays():
    """The pooled value also feeds another branch: moving the pool would leave that branch without
    it, so the graph keeps its order."""
    b = Builder((2, 8, 8), 13, "N", 5)
    y = b.op("Relu", [b.conv("x", 2, 3, (3, 3), pads=[1, 1, 1, 1])])
    pooled = b.op("MaxPool", [b.conv(y, 3, 3, (3, 3))], kernel_shape=[2, 2], strides=[2, 2])
    scale, shift = channel_params(b.rng, 3, 0.5, 2.0)
    y = b.op("Add", [b.op("Relu", [batchnorm(b, pooled, scale, shift)]), pooled])
    out = b.op("Gemm", [b.op("Flatten", [y]), b.const(b.randn(4, 27)), b.const(b.randn(4))], transB=1)
    graph = check_agrees(b.model(out), data((3, 2, 8, 8), 5))
    assert ops_of(graph)[3:6] == ["conv", "maxpool", "affine"], graph.summary()


def test_a_pool_with_windows_of_padding_alone_does_not_commute():
    """ONNX pads a max pool with −∞, and ``f(−∞)`` is not −∞ for a ReLU: a window of padding alone
    would change value (the importer refuses such pools anyway; the hook says no on its own)."""
    spec = get_op("maxpool")
    attrs = {"kernel": (2, 2), "stride": (2, 2), "dilation": (1, 1), "ceil_mode": False}
    empty = Node("p", "maxpool", ("x",), dict(attrs, pads=(0, 0, 2, 2)))  # the last window: rows 4, 5 of 4
    partial = Node("p", "maxpool", ("x",), dict(attrs, pads=(1, 1, 1, 1)))
    assert not spec.commutes_with_nondecreasing(empty, (1, 4, 4))
    assert spec.commutes_with_nondecreasing(partial, (1, 4, 4))


# ---------------------------------------------------------------------------------------------
# a negative scale: left alone, and the max pool's refusal stays
# ---------------------------------------------------------------------------------------------
def test_a_negative_scale_is_left_alone_and_refused():
    b = Builder((2, 8, 8), 13, "N", 6)
    out = pool_bn_model(b, 3, max_pool(2, 2, 0), "negative", "relu")
    x = data((4, 2, 8, 8), 6)
    graph = check_agrees(b.model(out), x)
    assert ops_of(graph)[3:6] == ["conv", "maxpool", "affine"], graph.summary()
    with pytest.raises(UnsupportedError) as info:
        eventsim.simulate(eventsim.convert(graph, x, "opi"), x, 8)  # refused when the plan is built
    message = str(info.value)
    assert "the_pool" in message and "put the max pool directly after an activation" in message, message


# ---------------------------------------------------------------------------------------------
# the spiking network
# ---------------------------------------------------------------------------------------------
def spiking_case(seed: int, pool: dict, bn: str, act: str, samples: int):
    b = Builder((2, 10, 10), 13, "N", seed)
    out = pool_bn_model(b, 3, pool, bn, act)
    x = np.random.default_rng(seed).random((samples, 2, 10, 10), dtype=np.float32)
    return check_agrees(b.model(out), x), x


@pytest.mark.parametrize(
    "pool, bn, act",
    [
        (max_pool(2, 2, 0), "positive", "relu"),
        (max_pool(3, 1, 1), "positive", "clip"),
        (max_pool(3, 2, 1), "none", "relu"),
        (max_pool(2, 1, 0), "zero", "relu"),
    ],
)
def test_converted_network_runs_alike_in_every_engine(pool, bn, act):
    """opi at T = 8: every engine variant spikes as the reference does (outputs to float rounding:
    calibrated thresholds are not on a grid)."""
    graph, x = spiking_case(11, pool, bn, act, 8)
    assert_pools_follow_activations(graph)
    net = eventsim.convert(graph, x, "opi")
    ref = eventsim.simulate(net, x, 8, engine="reference", raster_samples=range(2))
    assert ref.spikes_per_sample.sum() > 0
    for variant in ENGINE_VARIANTS:
        run = simulate_with(variant, net, x, 8, raster_samples=range(2))
        assert_same_spikes(run, ref)


def test_the_spiking_network_approaches_the_ann_at_large_t():
    """opi thresholds, T = 128, 20 samples: the SNN's class is the ANN's for nearly all of them."""
    graph, x = spiking_case(12, max_pool(2, 2, 0), "positive", "relu", 20)
    net = eventsim.convert(graph, x, "opi")
    run = eventsim.simulate(net, x, 128, engine="event")
    ann = eventsim.run_ann(graph, x)
    agreement = np.mean(np.argmax(run.outputs[:, -1], axis=1) == np.argmax(ann, axis=1))
    assert agreement >= 0.9, agreement
