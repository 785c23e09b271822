"""Channels-last exports (tf2onnx/Keras style): Transposes folded into the input layout and into
the dense weights' order, checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import eventsim


def keras_like(per_channel_first: bool) -> onnx.ModelProto:
    """NHWC input → Mul 1/255 → Sub mean (per channel) → Transpose → Conv → Relu → Transpose →
    Reshape(-1, F) → MatMul → Add, as tf2onnx writes a Keras CNN with a Rescaling layer."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(np.array([1 / 255.0], np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.standard_normal((4 * 5 * 5, 6)).astype(np.float32), "D"),
        numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "bias"),
        numpy_helper.from_array(np.array([-1, 100], np.int64), "shape"),
    ]
    first = [helper.make_node("Sub", ["x", "mean"], ["a"]), helper.make_node("Mul", ["a", "scale"], ["b"])]
    if not per_channel_first:
        first = [helper.make_node("Mul", ["x", "scale"], ["a"]), helper.make_node("Sub", ["a", "mean"], ["b"])]
    nodes = first + [
        helper.make_node("Transpose", ["b"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "W"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t2"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t2", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "D"], ["m"]),
        helper.make_node("Add", ["m", "bias"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "keras",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, 7, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("per_channel_first", [True, False])
def test_normalised_channels_last_input(per_channel_first):
    model = keras_like(per_channel_first)
    graph = eventsim.load_onnx(model)
    assert [n.op for n in graph.nodes] == ["input", "conv", "relu", "reshape", "dense"]
    assert graph.input_shape == (7, 7, 3) and graph.input.shape == (3, 7, 7)
    x = (np.random.default_rng(1).random((4, 7, 7, 3)) * 255).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    ours = eventsim.run_ann(graph, x)
    assert np.max(np.abs(ours - ref)) <= 1e-4 * max(1.0, np.max(np.abs(ref)))


def test_transpose_in_the_middle_is_refused():
    model = keras_like(True)
    # put a Transpose between Relu and a second Conv: not foldable into the input layout
    nodes = list(model.graph.node)
    w2 = numpy_helper.from_array(np.ones((2, 5, 1, 1), np.float32), "W2")
    model.graph.initializer.append(w2)
    del model.graph.node[:]
    model.graph.node.extend(
        nodes[:5]
        + [
            helper.make_node("Transpose", ["r"], ["t3"], perm=[0, 3, 2, 1]),
            helper.make_node("Conv", ["t3", "W2"], ["y2"]),
        ]
    )
    del model.graph.output[:]
    # the output's shape left symbolic: a wrong one is refused by ONNX's shape inference before eventsim looks
    model.graph.output.append(helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["N", "C", "H", "W"]))
    with pytest.raises(eventsim.UnsupportedError, match="transposed"):
        eventsim.load_onnx(model)
