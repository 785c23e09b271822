"""The static/dynamic split against a second, independent oracle: a naive dense simulation that
recomputes every whole value every step (tests/naive.py), without the split or the simulation plan."""

from __future__ import annotations

import numpy as np
import pytest
from checks import ENGINE_VARIANTS, simulate_with
from hypothesis import given, settings
from hypothesis import strategies as st
from naive import naive_if_run
from snn_builders import NetBuilder, exact_network, grid, random_networks

import eventsim
from eventsim.snn.split import dynamic_nodes, shared_static, static_parts


@settings(max_examples=50)
@given(
    case=random_networks(),
    encoding=st.sampled_from(["direct", "rate"]),
    T=st.integers(1, 10),
    engine=st.sampled_from(["reference"] + ENGINE_VARIANTS),
)
def test_every_engine_equals_a_naive_whole_value_simulation(case, encoding, T, engine):
    net, x = case
    rec = simulate_with(engine, net, x, T, encoding=encoding, seed=7, raster_samples=range(len(x)))
    naive = naive_if_run(net, x, T, encoding, seed=7)
    np.testing.assert_array_equal(rec.outputs, naive["outputs"])
    for name, counts in naive["counts"].items():
        per_sample = np.stack([rec.rasters[i][name].sum(axis=0) for i in range(len(x))])
        np.testing.assert_array_equal(per_sample, counts)


def test_what_is_static_dynamic_and_shared():
    """Direct coding: the input's path up to the first neurons is static and per sample; a neuron
    layer and everything after it is dynamic; a bias after a neuron layer is shared by all samples."""
    rng = np.random.default_rng(0)
    b = NetBuilder(rng, (2, 5, 5), normalise=True)
    first = b.conv("x", 3, 3, 1, 1, 1, 1)
    layer = b.relu(first)
    out = b.dense(b.flatten(layer), 4)
    graph = exact_network(b.graph(), rng, "half").graph
    direct = dynamic_nodes(graph, spiking_input=False)
    assert not direct["x"] and not direct[first] and direct[layer] and direct[out]
    shared = shared_static(graph, direct)
    assert first not in shared and "x" not in shared  # they depend on the sample
    np.testing.assert_array_equal(shared[layer], 0)
    np.testing.assert_array_equal(shared[out][0], graph.node(out).params["b"])  # spikes' static part: the bias
    x = grid(rng, (3,) + graph.input_shape, 0, 1, 0.125)
    static = static_parts(graph, x, direct, shared)
    np.testing.assert_allclose(static[first], eventsim.run_ann(graph, x, record=[first])[1][first], rtol=1e-6)
    rate = dynamic_nodes(graph, spiking_input=True)
    assert all(rate.values())
    shift = shared_static(graph, rate)["x"]  # a spike-coded input without a spike: the normalisation's shift
    np.testing.assert_array_equal(shift[0], np.broadcast_to(graph.input.params["shift"], graph.input.shape))


def test_a_max_pool_on_spikes_and_a_constant_is_refused():
    rng = np.random.default_rng(1)
    b = NetBuilder(rng, (1, 6, 6), normalise=False)
    layer = b.relu(b.conv("x", 2, 3, 1, 1, 1, 1))
    b.add("add", [layer, b.conv("x", 2, 3, 1, 1, 1, 1)])
    b.pool(b.current, "maxpool", (2, 2), (2, 2), (0, 0, 0, 0))
    b.dense(b.flatten(b.current), 2)
    net = exact_network(b.graph(), rng, "half")
    with pytest.raises(eventsim.UnsupportedError, match="max pool"):
        eventsim.simulate(net, grid(rng, (1, 1, 6, 6), 0, 1, 0.125), 4)
