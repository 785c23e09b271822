"""simulate() on real exported models, the QCFS exactness property, recordings, network files and
bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, assert_identical, simulate_with
from conftest import MODELS
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, grid, random_networks

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.ir.ops.qcfs import qcfs
from eventsim.snn.network import NeuronLayer, SpikingNetwork


@pytest.fixture(scope="module")
def digits():
    data = load_example_data()
    graph = eventsim.load_onnx(example_model_path())
    return graph, eventsim.convert(graph, data["x_calib"]), data


@pytest.mark.parametrize(
    "name, threshold",
    [
        ("resnet_tiny.onnx", "max"),
        ("concat_pool.onnx", "max"),
        ("mobilenet_relu6.onnx", "clip"),
        ("qcfs_cnn.onnx", "clip"),
        ("nhwc_input.onnx", "max"),
        ("lenet_bn.onnx", "max"),
    ],
)
@pytest.mark.parametrize("encoding", ["direct", "rate"])
@pytest.mark.parametrize("engine", ENGINE_VARIANTS[:4], ids=lambda v: "-".join([v[0], *map(str, v[1].values())]))
def test_engines_agree_on_exported_models(name, threshold, encoding, engine):
    graph = eventsim.load_onnx(MODELS / name)
    x = np.random.default_rng(0).random((12,) + graph.input_shape, dtype=np.float32)
    net = eventsim.convert(graph, x, threshold=threshold)
    ref = eventsim.simulate(net, x, 24, engine="reference", encoding=encoding)
    ev = simulate_with(engine, net, x, 24, encoding=encoding, batch_size=5)
    total_ref, total_ev = ref.spikes_per_sample.sum(), ev.spikes_per_sample.sum()
    assert total_ref > 0
    assert abs(int(total_ev) - int(total_ref)) <= 1e-4 * total_ref
    assert abs(int(ev.sops_per_sample.sum()) - int(ref.sops_per_sample.sum())) <= 1e-4 * ref.sops_per_sample.sum()
    ann = np.argmax(eventsim.run_ann(graph, x), axis=1)
    assert np.max(np.abs(ref.agreement(ann) - ev.agreement(ann))) <= 1 / len(x) + 1e-9
    np.testing.assert_allclose(ev.outputs, ref.outputs, rtol=1e-4, atol=1e-3 * np.abs(ref.outputs).max())


def test_digits_accuracy_curves_agree_and_approach_the_ann(digits):
    graph, net, data = digits
    x, y = data["x_test"], data["y_test"]
    ref = eventsim.simulate(net, x, 256, engine="reference")
    ann_accuracy = np.mean(np.argmax(eventsim.run_ann(graph, x), axis=1) == y)
    for engine in ("event", "layer"):
        ev = eventsim.simulate(net, x, 256, engine=engine)
        assert np.max(np.abs(ref.accuracy(y) - ev.accuracy(y))) <= 0.002
        total = ref.spikes_per_sample.sum()
        assert abs(int(ev.spikes_per_sample.sum()) - int(total)) <= 1e-4 * total
        assert ev.accuracy(y)[-1] >= ann_accuracy - 0.01
        assert ev.accuracy(y)[0] < ev.accuracy(y)[-1]  # accuracy builds up over time


@settings(max_examples=30)
@given(
    levels=st.integers(1, 16),
    lam=st.sampled_from([0.5, 1.0, 2.0, 4.0]),
    seed=st.integers(0, 2**31),
    engine=st.sampled_from(["reference"] + ENGINE_VARIANTS),
)
def test_qcfs_layer_is_exact_at_T_equal_L(levels, lam, seed, engine):
    """With v(0) = θ/2 = λ/2 and T = L, a QCFS layer's spike rate equals h(z) for any constant z."""
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (6,), normalise=False)
    first = b.dense("x", 8)
    b.add("qcfs", [first], {"levels": levels, "lam": lam})
    b.dense(b.current, 2)
    graph = b.graph()
    name = graph.activation_nodes()[0].name
    net = SpikingNetwork(graph, {name: NeuronLayer(np.float32(lam), np.float32(lam / 2))})
    x = rng.uniform(-0.5, 1.5, (4, 6)).astype(np.float32)
    z = x @ graph.node(first).params["W"].T + graph.node(first).params["b"]
    rec = simulate_with(engine, net, x, levels, raster_samples=range(4))
    for i in range(4):
        rate = rec.rasters[i][name].sum(axis=0) * lam / levels
        np.testing.assert_allclose(rate, qcfs(z[i], levels, lam), atol=1e-5)


@settings(max_examples=25)
@given(case=random_networks(), T=st.integers(2, 10), steps=st.integers(1, 9), engine=st.sampled_from(ENGINE_VARIANTS))
def test_temporal_bias_is_identical_in_every_engine(case, T, steps, engine):
    net, x = case
    rng = np.random.default_rng(T * 31 + steps)
    for name, layer in net.layers.items():
        channels = net.graph.node(name).shape[0]
        layer.temporal_bias = grid(rng, (steps, channels) if rng.random() < 0.5 else (steps,), -0.5, 0.5, 0.125)
    runs = [simulate_with(e, net, x, T, raster_samples=(0,)) for e in ("reference", engine)]
    assert_identical(*runs)
    assert runs[0].settings["bias_steps"] == steps


def test_recording_memory_does_not_grow_with_T_times_neurons(digits):
    graph, net, data = digits
    rec = eventsim.simulate(net, data["x_test"][:4], 200)
    neurons = int(rec.neurons.sum())
    arrays = [
        rec.outputs,
        rec.spikes_per_step,
        rec.spikes_per_sample,
        rec.sops_per_step,
        rec.sops_per_sample,
        *rec.neuron_counts.values(),
    ]
    assert all(a.size < 200 * neurons for a in arrays)
    assert rec.rasters == {}
    assert rec.spikes_per_step.dtype == np.int64 and rec.sops_per_step.dtype == np.int64
    np.testing.assert_array_equal(rec.spikes_per_step.sum(axis=1), rec.spikes_per_sample.sum(axis=0))
    for k, name in enumerate(rec.layers):
        assert rec.neuron_counts[name].sum() == rec.spikes_per_sample[:, k].sum()


def test_rasters_match_the_counts_and_first_spikes(digits):
    graph, net, data = digits
    rec = eventsim.simulate(net, data["x_test"][:5], 16, raster_samples=(1, 3), batch_size=2)
    assert set(rec.rasters) == {1, 3}
    for k, name in enumerate(rec.layers):
        assert rec.rasters[1][name].shape == (16,) + graph.node(name).shape
        for i in (1, 3):
            raster = rec.rasters[i][name].reshape(16, -1)
            assert raster.sum() == rec.spikes_per_sample[i, k]
            fired = np.flatnonzero(raster.any(axis=1))
            assert rec.first_spike[i, k] == (fired[0] + 1 if len(fired) else 17)


def test_network_file_round_trip(tmp_path, digits):
    graph, net, data = digits
    net.layers[graph.activation_nodes()[0].name].temporal_bias = np.linspace(-0.1, 0.1, 8, dtype=np.float32)
    net.save(tmp_path / "net.npz")
    back = SpikingNetwork.load(tmp_path / "net.npz")
    assert [n.name for n in back.graph.nodes] == [n.name for n in graph.nodes]
    x = data["x_test"][:10]
    assert_identical(eventsim.simulate(net, x, 12), eventsim.simulate(back, x, 12))
    net.layers[graph.activation_nodes()[0].name].temporal_bias = None


def test_damaged_and_foreign_network_files(tmp_path, digits):
    _, net, _ = digits
    net.save(tmp_path / "net.npz")
    blob = (tmp_path / "net.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(eventsim.ModelFileError, match="damaged"):
        SpikingNetwork.load(tmp_path / "cut.npz")
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(eventsim.ModelFileError, match="not an eventsim network"):
        SpikingNetwork.load(tmp_path / "foreign.npz")
    with np.load(tmp_path / "net.npz") as archive:
        arrays = dict(archive)
    meta = json.loads(arrays["__meta__"].tobytes())
    meta["version"] = 99
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(eventsim.ModelFileError, match="version 99"):
        SpikingNetwork.load(tmp_path / "future.npz")
    with pytest.raises(eventsim.ModelFileError, match="does not exist"):
        SpikingNetwork.load(tmp_path / "none.npz")


def test_bad_simulation_input(digits):
    _, net, data = digits
    x = data["x_test"][:3]
    with pytest.raises(eventsim.DataError, match="T must be"):
        eventsim.simulate(net, x, 0)
    with pytest.raises(eventsim.DataError, match="shape"):
        eventsim.simulate(net, x[:, :, :4], 4)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(eventsim.DataError, match="NaN or infinite"):
        eventsim.simulate(net, bad, 4)
    with pytest.raises(eventsim.DataError, match=r"\[0, 1\]"):
        eventsim.simulate(net, x * 3, 4, encoding="rate")
    with pytest.raises(ValueError, match="unknown engine"):
        eventsim.simulate(net, x, 4, engine="gpu")
    with pytest.raises(ValueError, match="unknown encoding"):
        eventsim.simulate(net, x, 4, encoding="phase")
    with pytest.raises(eventsim.DataError, match="GiB"):
        eventsim.simulate(net, x, 10**12)


def test_importing_eventsim_loads_no_heavy_library():
    """The core imports onnx, onnxruntime, click, Numba, threadpoolctl and matplotlib on first use only."""
    code = (
        "import sys, eventsim; heavy = ('onnx', 'onnxruntime', 'click', 'numba', 'threadpoolctl', 'matplotlib',"
        " 'dask', 'nir'); print(','.join(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""
