"""Synchronous neurons: delays that bring every join's inputs to the same pipeline stage."""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, simulate_with
from conftest import MODELS
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, bistable, grid

import eventsim
from eventsim import Graph, Node
from eventsim.examples import example_model_path
from eventsim.passes.synchronous import insert_synchronous_neurons
from eventsim.snn.network import NeuronLayer, SpikingNetwork


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**31),
    steps=st.integers(1, 7),
    T=st.integers(1, 16),
    engine=st.sampled_from(["reference"] + ENGINE_VARIANTS),
)
def test_a_synchronous_neuron_delays_a_spike_train_and_nothing_else(seed, steps, T, engine):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (5,), normalise=False)
    layer = b.relu(b.dense("x", 6))
    b.dense(layer, 3)
    plain = b.graph()
    nodes = list(plain.nodes[:-1]) + [
        Node("sync", "delay", (layer,), {"steps": steps}),
        plain.nodes[-1].copy(inputs=("sync",)),
    ]
    delayed = Graph(nodes, plain.output)
    params = {layer: NeuronLayer(np.float32(0.5), np.float32(0.25))}
    x = grid(rng, (2, 5), 0.0, 1.0, 0.125)
    a = simulate_with(engine, SpikingNetwork(plain, params), x, T, encoding="rate", raster_samples=(0,))
    d = simulate_with(engine, SpikingNetwork(delayed, params), x, T, encoding="rate", raster_samples=(0,))
    np.testing.assert_array_equal(a.rasters[0][layer], d.rasters[0][layer])  # the layer itself is untouched
    out = plain.nodes[-1]
    bias = out.params["b"]
    step_a = np.diff(a.outputs, axis=1, prepend=0) - bias  # what spikes brought in each step
    step_d = np.diff(d.outputs, axis=1, prepend=0) - bias
    np.testing.assert_array_equal(step_d[:, steps:], step_a[:, : T - steps] if T > steps else step_d[:, steps:])
    assert not step_d[:, : min(steps, T)].any()
    # every spike entering the delay is one relayed event, in the step it enters
    delay_events = d.sops_per_step[d.synaptic_nodes.index("sync")]
    np.testing.assert_array_equal(delay_events, a.spikes_per_step[0])
    assert d.sops_per_sample[0, d.synaptic_nodes.index("sync")] == a.spikes_per_sample[0, 0]


@pytest.mark.parametrize("path", [MODELS / "resnet_tiny.onnx", example_model_path("mnist_resnet")])
def test_synchronous_neurons_are_found_on_residual_networks(path):
    graph = eventsim.load_onnx(path)
    synced, delays = insert_synchronous_neurons(graph, 5)
    adds = [n for n in graph.nodes if n.op == "add"]
    assert adds and len(delays) >= len(adds)
    net = bistable(graph, np.random.default_rng(0), 5, "half")
    stages = net.node_stages()  # with the delays counted in cycles
    for node in synced.nodes:  # every join sees its inputs at the same stage
        if len(node.inputs) > 1:
            assert len({stages[i] for i in node.inputs}) == 1, node.name
    for delay in delays:  # on a spike train: after a neuron layer (identity or before the 1x1 projection)
        assert graph.node(delay.source).spec.role in ("activation", "input") and delay.steps % 5 == 0
    x = np.random.default_rng(1).random((3,) + graph.input_shape, dtype=np.float32)
    np.testing.assert_array_equal(eventsim.run_ann(synced, x), eventsim.run_ann(graph, x))
