"""Models exported from PyTorch by examples/export_test_models.py: each imports, matches
onnxruntime on the same file, and has the structure the passes promise."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import MODELS, manifest

import eventsim

ENTRIES = manifest()


def ops(graph) -> list[str]:
    return [n.op for n in graph.nodes]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_matches_onnxruntime(entry):
    path = MODELS / entry["file"]
    graph = eventsim.load_onnx(path)
    assert list(graph.input_shape) == entry["input_shape"]
    for samples, seed in ((1, 0), (7, 1)):
        report = eventsim.verify_onnx(path, samples=samples, seed=seed)
        assert report.passed, report
        assert report.argmax_agreement == 1.0


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_canonical_ops_only(entry):
    graph = eventsim.load_onnx(MODELS / entry["file"])
    canonical = {
        "input",
        "conv",
        "dense",
        "avgpool",
        "maxpool",
        "add",
        "concat",
        "reshape",
        "pad",
        "affine",
        "relu",
        "clip",
        "qcfs",
    }
    assert set(ops(graph)) <= canonical
    # max pooling always acts on the output of an activation (i.e. on spikes)
    for node in graph.nodes:
        if node.op == "maxpool":
            assert graph.node(node.inputs[0]).op in ("relu", "clip", "qcfs")


@pytest.mark.parametrize("name", ["lenet_bn.onnx", "mobilenet_relu6.onnx", "lenet_dynamo.onnx"])
def test_batchnorm_is_folded(name):
    assert "affine" not in ops(eventsim.load_onnx(MODELS / name))


def test_bn_kept_and_fused_exports_give_the_same_graph():
    kept = eventsim.load_onnx(MODELS / "lenet_bn.onnx")
    fused = eventsim.load_onnx(MODELS / "lenet_bn_fused.onnx")
    assert ops(kept) == ops(fused)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(eventsim.run_ann(kept, x), eventsim.run_ann(fused, x), rtol=1e-4, atol=1e-5)


def test_relu6_becomes_clip_and_depthwise_groups():
    graph = eventsim.load_onnx(MODELS / "mobilenet_relu6.onnx")
    clips = [n for n in graph.nodes if n.op == "clip"]
    assert len(clips) == 5 and all((n.attrs["lo"], n.attrs["hi"]) == (0.0, 6.0) for n in clips)
    depthwise = [n for n in graph.nodes if n.op == "conv" and n.attrs["groups"] > 1]
    assert depthwise and all(n.params["W"].shape[1] == 1 for n in depthwise)
    assert any(n.params["W"].shape[0] == 2 * n.attrs["groups"] for n in depthwise)  # channel multiplier 2


def test_residual_adds():
    graph = eventsim.load_onnx(MODELS / "resnet_tiny.onnx")
    adds = [n for n in graph.nodes if n.op == "add"]
    assert len(adds) == 2 and all(len(n.inputs) == 2 for n in adds)
    assert graph.nodes[-2].op == "avgpool" or "avgpool" in ops(graph)


def test_input_normalisation_moves_into_the_input_node():
    graph = eventsim.load_onnx(MODELS / "mlp_normalized.onnx")
    assert ops(graph)[:3] == ["input", "reshape", "dense"]
    assert np.any(graph.input.params["scale"] != 1) and np.any(graph.input.params["shift"] != 0)


def test_dynamic_batch_shape_chain_becomes_a_reshape():
    graph = eventsim.load_onnx(MODELS / "lenet_dynamic.onnx")
    assert ops(graph).count("reshape") == 1
    x = np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32)
    assert eventsim.run_ann(graph, x).shape == (5, 10)


def test_external_data_is_required(tmp_path):
    assert (MODELS / "lenet_dynamo.onnx.data").is_file()
    eventsim.load_onnx(MODELS / "lenet_dynamo.onnx")
    shutil.copy(MODELS / "lenet_dynamo.onnx", tmp_path / "lenet_dynamo.onnx")
    with pytest.raises(eventsim.ModelFileError, match="external"):
        eventsim.load_onnx(tmp_path / "lenet_dynamo.onnx")


@pytest.mark.parametrize(
    "name, levels, lams", [("qcfs_cnn.onnx", 4, (2.0, 3.0)), ("qcfs_cnn_clampfirst.onnx", 8, None)]
)
def test_qcfs_chains_are_recognised(name, levels, lams):
    graph = eventsim.load_onnx(MODELS / name)
    q = [n for n in graph.nodes if n.op == "qcfs"]
    assert len(q) == 2 and all(n.attrs["levels"] == levels for n in q)
    if lams:
        assert [n.attrs["lam"] for n in q] == pytest.approx(lams)
    assert not {"affine", "floor", "clip"} & set(ops(graph))


def test_zero_pad_is_folded_and_softmax_dropped_with_a_note():
    graph = eventsim.load_onnx(MODELS / "concat_pool.onnx")
    assert "pad" not in ops(graph)
    assert graph.nodes[1].op == "conv" and graph.nodes[1].attrs["pads"] == (1, 1, 1, 1)
    assert any("Softmax" in note for note in graph.notes)
    assert graph.meta["dropped_output_op"] == "Softmax"


def test_relu_then_clamp_is_one_clip():
    graph = eventsim.load_onnx(MODELS / "relu_min.onnx")
    acts = [n for n in graph.nodes if n.spec.role == "activation"]
    assert len(acts) == 1 and acts[0].op == "clip" and (acts[0].attrs["lo"], acts[0].attrs["hi"]) == (0.0, 6.0)


def test_channels_last_input_is_folded_into_the_input_layout():
    graph = eventsim.load_onnx(MODELS / "nhwc_input.onnx")
    assert graph.input_shape == (12, 12, 3)
    assert graph.input.shape == (3, 12, 12) and graph.input.attrs["perm"] == (2, 0, 1)
    assert ops(graph) == ["input", "conv", "relu", "conv", "relu", "reshape", "dense"]


def test_record_returns_every_activation_layer():
    graph = eventsim.load_onnx(MODELS / "resnet_tiny.onnx")
    x = np.random.default_rng(0).random((3,) + graph.input_shape, dtype=np.float32)
    out, acts = eventsim.run_ann(graph, x, record=True)
    names = [n.name for n in graph.activation_nodes()]
    assert list(acts) == names
    for name in names:
        assert acts[name].shape == (3,) + graph.node(name).shape
        assert acts[name].min() >= 0
    np.testing.assert_array_equal(out, eventsim.run_ann(graph, x))
