"""A per-channel affine after an activation (a BatchNorm placed after it, as Keras models do) folded
forward: through max pooling (positive scales), average pooling and reshapes, into the next conv
(zero-padded or not, any stride) or dense.

Oracles: onnxruntime for the ANN function of generated ONNX graphs; the reference engine for every
other engine on the converted networks (spikes identical, and with weights, data and thresholds on
a binary grid the outputs too); the ANN for the spiking network at large T.
"""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, assert_same_spikes, simulate_with
from click.testing import CliRunner
from conftest import examples
from eventsim.cli.main import main
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx_builders import Builder, check_agrees, data, ops_of
from snn_builders import exact_network, grid

import eventsim
from eventsim import UnsupportedError
from eventsim.ir.graph import Graph

seeds = st.integers(0, 2**16)


def batchnorm(b: Builder, x: str, scale: np.ndarray, shift: np.ndarray, name: str = "bn") -> str:
    """A BatchNormalization node computing ``scale·x + shift`` per channel (mean and variance drawn,
    gamma and beta solved for them)."""
    c = len(scale)
    mean = b.randn(c, scale=0.5)
    var = b.rng.uniform(0.2, 3.0, c).astype(np.float32)
    std = np.sqrt(var.astype(np.float64) + 1e-5)
    gamma = (scale * std).astype(np.float32)
    beta = (shift + scale * mean).astype(np.float32)
    inputs = [x] + [b.const(a, n) for a, n in ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var"))]
    return b.op("BatchNormalization", inputs, name=name)


def channel_params(rng: np.random.Generator, c: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Positive scales in [lo, hi] (log-uniform) and shifts of either sign."""
    scale = np.exp(rng.uniform(np.log(lo), np.log(hi), c)).astype(np.float32)
    return scale, rng.uniform(-2.0, 2.0, c).astype(np.float32)


def conv_bn_pool_model(b: Builder, c: int, pool: str, pads: int, stride: int, scale, shift) -> str:
    """Conv → ReLU → BatchNorm → pool → Conv (pads, stride) → ReLU → Flatten → Gemm."""
    y = batchnorm(b, b.op("Relu", [b.conv("x", b.input_shape[0], c, (3, 3))]), scale, shift)
    if pool == "max":
        y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    elif pool == "max_padded":  # ONNX pads a max pool with -inf: the padding never wins either way
        y = b.op("MaxPool", [y], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    elif pool == "avg":  # padding not counted: the average of s·x + c is s·avg(x) + c
        y = b.op("AveragePool", [y], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 0, 0])
    elif pool == "avg_counted":  # padded zeros count: they would not get the shift, so it stays
        y = b.op("AveragePool", [y], kernel_shape=[2, 2], strides=[1, 1], pads=[1, 1, 0, 0], count_include_pad=1)
    y = b.op("Relu", [b.conv(y, c, 3, (3, 3), pads=[pads] * 4, strides=[stride, stride])])
    y = b.op("Flatten", [y])
    return b.op("Gemm", [y, b.const(b.randn(4, flat_size(b, y))), b.const(b.randn(4))], transB=1)


def flat_size(b: Builder, name: str) -> int:
    """The per-sample size of tensor ``name`` (from onnxruntime's shape inference)."""
    model = b.model(name)
    dims = model.graph.output[0].type.tensor_type.shape.dim
    return int(np.prod([d.dim_value for d in dims[1:]]))


def assert_no_affine_before_a_max_pool(graph: Graph) -> None:
    for node in graph.nodes:
        if node.op == "maxpool":
            assert graph.node(node.inputs[0]).op != "affine", graph.summary()


@settings(max_examples=examples(40))
@given(
    c=st.integers(1, 4),
    hw=st.integers(9, 12),
    pool=st.sampled_from(["max", "max_padded", "avg", "avg_counted", "none"]),
    pads=st.integers(0, 2),
    stride=st.integers(1, 2),
    scale_range=st.sampled_from([(0.05, 0.5), (0.5, 2.0), (1.0, 8.0)]),
    n=st.integers(1, 3),
    seed=seeds,
)
def test_conv_relu_bn_pool_conv_matches_onnxruntime(c, hw, pool, pads, stride, scale_range, n, seed):
    """The ANN function is unchanged (onnxruntime), and no affine is left: the BatchNorm folded into
    the second conv (its border into a pad with one value per channel where that conv pads), except
    before an average pool whose padded zeros count, where it stays."""
    b = Builder((2, hw, hw), 13, "N", seed)
    scale, shift = channel_params(b.rng, c, *scale_range)
    out = conv_bn_pool_model(b, c, pool, pads, stride, scale, shift)
    graph = check_agrees(b.model(out), data((n, 2, hw, hw), seed))
    assert_no_affine_before_a_max_pool(graph)
    if pool == "avg_counted":
        assert ops_of(graph)[2:5] == ["relu", "affine", "avgpool"], graph.summary()
        return
    assert "affine" not in ops_of(graph), graph.summary()
    pad_nodes = [node for node in graph.nodes if node.op == "pad"]
    assert len(pad_nodes) == (1 if pads else 0), graph.summary()


@settings(max_examples=examples(30))
@given(
    f=st.integers(1, 6),
    m=st.integers(1, 5),
    scale_sign=st.sampled_from(["positive", "any"]),
    n=st.integers(1, 3),
    seed=seeds,
)
def test_dense_relu_bn_dense_matches_onnxruntime(f, m, scale_sign, n, seed):
    """Gemm → ReLU → BatchNorm → Gemm: the scale (any sign: no max pool) folds into the second
    Gemm's weights, the shift into its bias."""
    b = Builder((f,), 13, "N", seed)
    scale, shift = channel_params(b.rng, m, 0.1, 4.0)
    if scale_sign == "any":
        scale = scale * b.rng.choice([-1.0, 1.0], m).astype(np.float32)
    y = b.op("Relu", [b.op("Gemm", ["x", b.const(b.randn(m, f)), b.const(b.randn(m))], transB=1)])
    y = batchnorm(b, y, scale, shift)
    out = b.op("Gemm", [y, b.const(b.randn(3, m)), b.const(b.randn(3))], transB=1)
    graph = check_agrees(b.model(out), data((n, f), seed))
    assert ops_of(graph) == ["input", "dense", "relu", "dense"]


def test_bn_after_relu_then_maxpool_then_flatten_folds_into_the_dense():
    """Through the max pool and the flatten (the per-channel values become per-feature) into the
    dense."""
    b = Builder((2, 6, 6), 17, "N", 5)
    scale, shift = channel_params(b.rng, 3, 0.2, 3.0)
    y = batchnorm(b, b.op("Relu", [b.conv("x", 2, 3, (3, 3), pads=[1, 1, 1, 1])]), scale, shift)
    y = b.op("Flatten", [b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])])
    out = b.op("Gemm", [y, b.const(b.randn(4, 27)), b.const(b.randn(4))], transB=1)
    graph = check_agrees(b.model(out), data((3, 2, 6, 6), 5))
    assert ops_of(graph) == ["input", "conv", "relu", "maxpool", "reshape", "dense"]


def test_bn_before_the_output_stays_and_simulates():
    """With nothing after it to fold into, the affine stays at the output, where it simulates as
    before (its shift a static part of the output)."""
    b = Builder((2, 6, 6), 13, "N", 6)
    scale, shift = channel_params(b.rng, 3, 0.5, 2.0)
    out = batchnorm(b, b.op("Relu", [b.conv("x", 2, 3, (3, 3))]), scale, shift)
    x = data((4, 2, 6, 6), 6)
    graph = check_agrees(b.model(out), x)
    assert ops_of(graph)[-1] == "affine"
    net = eventsim.convert(graph, x, "ftbc", T=8)
    ref = eventsim.simulate(net, x, 8, engine="reference")
    for variant in ENGINE_VARIANTS:
        np.testing.assert_array_equal(ref.spikes_per_step, simulate_with(variant, net, x, 8).spikes_per_step)


# ---------------------------------------------------------------------------------------------
# refusals: a negative or zero scale before a max pool
# ---------------------------------------------------------------------------------------------
def refused_model(factor: float):
    b = Builder((2, 6, 6), 13, "N", 7)
    scale, shift = channel_params(b.rng, 3, 0.5, 2.0)
    scale[1] = factor
    y = batchnorm(b, b.op("Relu", [b.conv("x", 2, 3, (3, 3))]), scale, shift, name="bad_bn")
    y = b.op("MaxPool", [y], kernel_shape=[2, 2], name="the_pool")
    return b.model(b.conv(y, 3, 2, (3, 3), pads=[1, 1, 1, 1]))


@pytest.mark.parametrize("factor", [-1.5, 0.0])
def test_a_negative_or_zero_scale_before_a_max_pool_is_refused(factor):
    with pytest.raises(UnsupportedError) as info:
        eventsim.load_onnx(refused_model(factor))
    message = str(info.value)
    assert "bad_bn" in message and "the_pool" in message and "[1]" in message, message
    assert "fix:" in message and "positive" in message


def test_the_cli_reports_the_refusal_without_a_traceback(tmp_path):
    import onnx

    path = tmp_path / "neg.onnx"
    onnx.save(refused_model(-1.0), path)
    result = CliRunner().invoke(main, ["inspect", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    assert "bad_bn" in result.output and "the_pool" in result.output


# ---------------------------------------------------------------------------------------------
# the spiking network of a folded model
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pads, stride", [(0, 1), (1, 1), (1, 2), (2, 2)])
def test_converted_network_runs_alike_in_every_engine_and_approaches_the_ann(pads, stride):
    """ftbc at T = 8: every engine variant spikes as the reference does (outputs to float rounding:
    calibrated thresholds are not on a grid); at T = 256 the mean outputs approach the ANN's."""
    b = Builder((2, 10, 10), 13, "N", 11)
    scale, shift = channel_params(b.rng, 3, 0.3, 3.0)
    out = conv_bn_pool_model(b, 3, "max", pads, stride, scale, shift)
    x = np.random.default_rng(11).random((24, 2, 10, 10), dtype=np.float32)
    graph = check_agrees(b.model(out), x)
    net = eventsim.convert(graph, x, "ftbc", T=8)
    ref = eventsim.simulate(net, x, 8, engine="reference", raster_samples=range(3))
    for variant in ENGINE_VARIANTS:
        run = simulate_with(variant, net, x, 8, raster_samples=range(3))
        assert_same_spikes(run, ref)
    ann = eventsim.run_ann(graph, x)
    long = eventsim.simulate(eventsim.convert(graph, x, "ftbc", T=256), x, 256, engine="event")
    error = np.abs(long.outputs[:, -1] / 256 - ann).max() / np.abs(ann).max()  # the mean output current
    assert error < 0.05, error
    assert np.mean(np.argmax(long.outputs[:, -1], axis=1) == np.argmax(ann, axis=1)) >= 0.9


@pytest.mark.parametrize("pads", [0, 1])
def test_folded_network_on_a_grid_is_bit_identical_in_every_engine(pads):
    """Weights, BatchNorm (power-of-two scales), data and thresholds on a binary grid: every engine
    variant equals the reference to the bit, outputs included."""
    rng = np.random.default_rng(pads)
    b = Builder((2, 8, 8), 13, "N", 3)
    w1, b1 = grid(rng, (3, 2, 3, 3), -0.5, 0.5, 0.125), grid(rng, (3,), -0.25, 0.5, 0.125)
    w2, b2 = grid(rng, (4, 3, 3, 3), -0.5, 0.5, 0.125), grid(rng, (4,), -0.25, 0.5, 0.125)
    y = b.op("Relu", [b.op("Conv", ["x", b.const(w1), b.const(b1)])])
    scale = np.array([0.5, 1.0, 2.0], np.float32)
    shift = grid(rng, (3,), -1.0, 1.0, 0.125)
    inputs = [y] + [b.const(a) for a in (scale, shift, np.zeros(3, np.float32), np.ones(3, np.float32))]
    y = b.op("BatchNormalization", inputs, epsilon=0.0)
    y = b.op("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    y = b.op("Relu", [b.op("Conv", [y, b.const(w2), b.const(b2)], pads=[pads] * 4)])
    y = b.op("Flatten", [y])
    out = b.op("Gemm", [y, b.const(grid(rng, (3, flat_size(b, y)), -0.5, 0.5, 0.125))], transB=1)
    x = grid(rng, (3, 2, 8, 8), 0, 1, 0.125)
    graph = check_agrees(b.model(out), x)
    assert ("pad" in ops_of(graph)) == bool(pads)
    net = exact_network(graph, rng, "half")
    ref = eventsim.simulate(net, x, 9, engine="reference", raster_samples=range(3))
    assert ref.spikes_per_sample.sum() > 0
    for variant in ENGINE_VARIANTS:
        assert_identical(ref, simulate_with(variant, net, x, 9, raster_samples=range(3)))


def test_network_file_keeps_the_pad_values(tmp_path):
    b = Builder((2, 8, 8), 13, "N", 4)
    scale, shift = channel_params(b.rng, 3, 0.3, 3.0)
    graph = eventsim.load_onnx(b.model(conv_bn_pool_model(b, 3, "max", 1, 1, scale, shift)))
    x = data((4, 2, 8, 8), 4)
    net = eventsim.convert(graph, x, "ftbc", T=4)
    net.save(tmp_path / "net.npz")
    again = eventsim.SpikingNetwork.load(tmp_path / "net.npz")
    pad = next(node for node in again.graph.nodes if node.op == "pad")
    np.testing.assert_array_equal(pad.params["value"], net.graph.node(pad.name).params["value"])
    assert_identical(eventsim.simulate(net, x, 4), eventsim.simulate(again, x, 4))


def test_a_scaling_then_a_shift_after_an_activation_fold_as_one():
    """Mul then Add by per-channel constants (two affines in a row) after a ReLU merge into one affine,
    which folds into the padded conv after them."""
    b = Builder((2, 6, 6), 11, "N", 8)
    y = b.op("Relu", [b.conv("x", 2, 3, (3, 3), pads=[1, 1, 1, 1])])
    y = b.op(
        "Add",
        [b.op("Mul", [y, b.const(b.rng.uniform(0.5, 2, (3, 1, 1)).astype(np.float32))]), b.const(b.randn(3, 1, 1))],
    )
    out = b.conv(y, 3, 2, (3, 3), pads=[1, 1, 1, 1])
    graph = check_agrees(b.model(out), data((2, 2, 6, 6), 8))
    assert ops_of(graph) == ["input", "conv", "relu", "pad", "conv"], graph.summary()
