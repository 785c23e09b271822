"""Operation counts: SOPs against an independent count from the spike rasters and the layer geometry,
ANN MACs against hand-computed figures, direct-coded work counted once per sample."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import random_networks

import eventsim
from eventsim import Node
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.counts import ann_counts, snn_counts
from eventsim.snn.coding import rate_spikes


def _ones_conv(node: Node, c_in: int) -> Node:
    """A conv with all-one weights and the node's geometry: summing its output over a map of events
    counts each event once per in-bounds (target, weight) pair."""
    a = node.attrs
    if node.op == "conv":
        weights = np.ones_like(node.params["W"])
        attrs = {k: a[k] for k in ("stride", "pads", "dilation", "groups")}
    else:  # average pooling: one weight per input channel and window position
        assert not a["ceil_mode"]
        weights = np.ones((c_in, 1) + tuple(a["kernel"]), np.float32)
        attrs = {"stride": a["stride"], "pads": a["pads"], "dilation": a["dilation"], "groups": c_in}
    return Node(node.name, "conv", node.inputs, attrs, {"W": weights, "b": np.zeros(len(weights), np.float32)})


def _event_maps(net, rec, x, encoding, seed):
    """Events arriving at every position of every event-carrying node, (N, T) + shape, from the
    rasters alone: activations spike, structure ops move (or copy) events, pools merge them per position."""
    graph, T, n = net.graph, rec.T, len(x)
    maps = {}
    for node in graph.nodes:
        ins = [maps.get(i) for i in node.inputs]
        if node.op == "input":
            maps[node.name] = rate_spikes(x, T, seed).astype(np.float64) if encoding == "rate" else None
        elif node.spec.role == "activation":
            maps[node.name] = np.stack([rec.rasters[i][node.name] for i in range(n)]).astype(np.float64)
        elif any(m is None for m in ins):
            maps[node.name] = None
        elif node.op == "reshape":
            maps[node.name] = ins[0].reshape((n, T) + node.shape)
        elif node.op == "concat":
            maps[node.name] = np.concatenate(ins, axis=2 + node.attrs["axis"])
        elif node.op == "pad":  # events move by the pads; the border values are static, not events
            top, left, bottom, right = node.attrs["pads"]
            maps[node.name] = np.pad(ins[0], ((0, 0), (0, 0), (0, 0), (top, bottom), (left, right)))
        elif node.op == "upsample":  # every event copied into its block
            sh, sw = node.attrs["scale"]
            maps[node.name] = np.repeat(np.repeat(ins[0], sh, axis=3), sw, axis=4)
        elif node.op == "avgpool":
            flat = ins[0].reshape((n * T,) + ins[0].shape[2:])
            window = _ones_conv(node, flat.shape[1])
            maps[node.name] = (window.spec.forward(window, [flat.astype(np.float32)]) > 0).reshape((n, T) + node.shape)
        elif node.op == "maxpool":  # the pool spikes when the largest cumulative count in its window grows
            counts = np.cumsum(ins[0], axis=1).reshape((n * T,) + ins[0].shape[2:]).astype(np.float32)
            pooled = node.spec.forward(node, [counts]).reshape((n, T) + node.shape)
            maps[node.name] = np.diff(pooled, axis=1, prepend=0)
        else:  # conv, dense, add, affine: values, not events
            maps[node.name] = None
    return maps


def _independent_sops(net, rec, x, encoding, seed):
    """Synaptic events per sample and node (N, S) from the event maps and each node's geometry."""
    graph, maps = net.graph, _event_maps(net, rec, x, encoding, seed)
    out = np.zeros((len(x), len(rec.synaptic_nodes)))
    for k, name in enumerate(rec.synaptic_nodes):
        node = graph.node(name)
        events = maps[node.inputs[0]]
        n, T = events.shape[:2]
        if node.op == "dense":
            out[:, k] = events.reshape(n, -1).sum(axis=1) * node.params["W"].shape[0]
        else:
            flat = events.reshape((n * T,) + events.shape[2:]).astype(np.float32)
            ones = _ones_conv(node, flat.shape[1])
            out[:, k] = ones.spec.forward(ones, [flat]).reshape(n, -1).sum(axis=1)
    return out


@settings(max_examples=40)
@given(case=random_networks(), encoding=st.sampled_from(["direct", "rate"]), T=st.integers(1, 10))
def test_sops_equal_an_independent_count_from_the_rasters(case, encoding, T):
    net, x = case
    rec = eventsim.simulate(net, x, T, encoding=encoding, seed=5, raster_samples=range(len(x)))
    expected = _independent_sops(net, rec, x, encoding, 5)
    np.testing.assert_array_equal(rec.sops_per_sample, expected)
    counts = snn_counts(net, rec)
    for k, name in enumerate(rec.synaptic_nodes):
        sop = [r for r in counts.rows if r.node == name and r.term == "sop"]
        assert sum(r.per_sample for r in sop) == pytest.approx(expected[:, k].mean())
        if sop:
            assert sop[0].per_step.sum() == pytest.approx(sop[0].per_sample)
    spikes = [r for r in counts.rows if r.term == "spike"]
    assert sum(r.per_sample for r in spikes) == pytest.approx(rec.spikes_per_sample.sum(axis=1).mean())
    updates = sum(r.per_sample for r in counts.rows if r.term == "neuron_update")
    assert updates == T * rec.neurons.sum()


def test_ann_macs_of_the_bundled_model_by_hand():
    """digits_cnn: conv 1→8 3x3 pad 1 on 8x8, max pool, conv 8→16 3x3 pad 1 on 4x4, max pool, dense
    64→32, dense 32→10. Along one axis a 3-tap, pad-1 window covers 2 real inputs at either border
    and 3 inside: 8 positions → 2+2+6·3 = 22 taps, 4 positions → 2+2+2·3 = 10 taps."""
    graph = eventsim.load_onnx(example_model_path())
    conventional = 8 * 64 * 9 + 16 * 16 * 8 * 9 + 64 * 32 + 32 * 10  # padded zeros included
    assert sum(graph.macs(n) for n in graph.nodes) == conventional == 25_408
    counts = ann_counts(graph)
    in_bounds = 8 * 1 * 22**2 + 16 * 8 * 10**2 + 64 * 32 + 32 * 10
    assert counts.total("mac") == in_bounds == 19_040
    assert counts.total("weight_read") == in_bounds
    assert counts.total("neuron_update") == 8 * 64 + 16 * 16 + 32
    # max pools: every input read once, one comparison per window element (2x2, stride 2)
    assert counts.total("add") == 8 * 64 + 16 * 16


def test_direct_coded_first_layer_is_counted_once_per_sample():
    graph = eventsim.load_onnx(example_model_path())
    data = load_example_data()
    net = eventsim.convert(graph, data["x_calib"], "opi")
    short, long = (eventsim.simulate(net, data["x_test"][:20], T) for T in (4, 12))
    first = graph.nodes[1].name
    for rec in (short, long):
        rows = [r for r in snn_counts(net, rec).rows if r.node == first and r.term == "mac"]
        assert rows[0].per_sample == 8 * 22**2  # the ANN's first layer, once
        assert rows[0].per_step[0] == rows[0].per_sample and not rows[0].per_step[1:].any()
        assert first not in rec.synaptic_nodes
    rate = eventsim.simulate(net, data["x_test"][:20] / 16, 4, encoding="rate")
    assert "mac" not in snn_counts(net, rate).by_term() and first in rate.synaptic_nodes
