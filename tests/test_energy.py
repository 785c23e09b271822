"""Operation counts and energy: SOPs against an independent count from the spike rasters and the layer
geometry, ANN MACs against hand-computed figures, and the energy arithmetic's linearity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_builders import random_networks

import eventsim
from eventsim import Node
from eventsim.errors import DataError, ModelFileError
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.counts import MEMORY_TERMS, TERMS, ann_counts, snn_counts
from eventsim.measure.energy import energy_report, price_counts
from eventsim.measure.energy_presets import PRESETS, CostTable, load_cost_table, sram_access_pj
from eventsim.snn.coding import rate_spikes

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- SOPs: an independent count from rasters ------------------------------------------------------


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
    rasters alone: activations spike, structure ops move events, pools merge them per position."""
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


@settings(max_examples=40, **SETTINGS)
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


# -- ANN MACs -------------------------------------------------------------------------------------


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


# -- energy arithmetic ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run():
    graph = eventsim.load_onnx(example_model_path())
    data = load_example_data()
    net = eventsim.convert(graph, data["x_calib"], "opi")
    return net, eventsim.simulate(net, data["x_test"][:30], 8)


prices = st.floats(0, 100, allow_nan=False, width=32)
tables = st.fixed_dictionaries(
    {"costs": st.dictionaries(st.sampled_from(sorted(TERMS)), prices), "sram": st.lists(prices, min_size=3, max_size=3)}
)
SIZES = (8192, 32768, 1048576)


def _table(doc, factor=1.0, name="t"):
    return CostTable(
        name,
        "test",
        "test",
        {k: v * factor for k, v in doc["costs"].items()},
        tuple(zip(SIZES, [v * factor for v in doc["sram"]])),
    )


@settings(max_examples=40, deadline=None)
@given(first=tables, second=tables, a=st.floats(0, 4), b=st.floats(0, 4))
def test_energy_is_linear_in_the_cost_table(run, first, second, a, b):
    net, rec = run
    counts = snn_counts(net, rec)
    if set(first["costs"]) != set(second["costs"]):  # a combination prices the union of terms
        second["costs"] = {k: second["costs"].get(k, 0.0) for k in first["costs"]}
        first["costs"] = {k: first["costs"].get(k, 0.0) for k in second["costs"]}
    combined = {
        "costs": {k: a * first["costs"][k] + b * second["costs"][k] for k in first["costs"]},
        "sram": [a * p + b * q for p, q in zip(first["sram"], second["sram"])],
    }
    e1, e2, e12 = (price_counts(counts, _table(d)) for d in (first, second, combined))
    assert e12.total_pj == pytest.approx(a * e1.total_pj + b * e2.total_pj, rel=1e-9, abs=1e-6)
    np.testing.assert_allclose(e12.per_step_pj, a * e1.per_step_pj + b * e2.per_step_pj, rtol=1e-9, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(term=st.sampled_from(sorted(TERMS)), price=st.floats(0.01, 100))
def test_a_table_pricing_one_term_gives_that_term_times_its_count(run, term, price):
    net, rec = run
    for counts in (snn_counts(net, rec), ann_counts(net.graph)):
        energy = price_counts(counts, CostTable("one", "", "", {term: price}))
        assert energy.total_pj == pytest.approx(price * counts.total(term))
        assert set(energy.by_term) <= {term}
        assert term not in energy.unpriced and set(energy.unpriced) == set(counts.by_term()) - {term}


def test_cumulative_energy_ends_at_the_total(run):
    net, rec = run
    for name in PRESETS:
        snn = energy_report(net, rec, name).snn
        assert snn.per_step_pj.sum() + snn.total_only_pj == pytest.approx(snn.total_pj)
        assert np.all(np.diff(np.cumsum(snn.per_step_pj)) >= 0)


def test_presets_and_what_they_leave_out(run):
    net, rec = run
    assert PRESETS["fp32-45nm"].costs == {"sop": 0.9, "mac": 4.6, "add": 0.9}
    assert PRESETS["int8-45nm"].price("mac") == 0.23
    for name, table in PRESETS.items():
        assert table.source and table.description
        report = energy_report(net, rec, name)
        text = report.text()
        assert "not counted" in text and "static" in text
        assert report.ratio is None or report.ratio > 0
    # Loihi and TrueNorth have no MACs: the ANN is not comparable and the input layer's MACs are listed
    loihi = energy_report(net, rec, "loihi")
    assert loihi.ratio is None and "n/a" in loihi.text()
    assert any("mac" in line for line in loihi.not_counted)
    # memory-aware prices every memory access by size: nothing but spikes is left unpriced
    assert set(energy_report(net, rec, "memory-aware-45nm").snn.unpriced) == {"spike"}


def test_sram_interpolation():
    anchors = tuple(zip(SIZES, (10.0, 20.0, 100.0)))
    assert sram_access_pj(anchors, 100) == 10.0  # below the smallest memory: its cost
    assert sram_access_pj(anchors, 16384) == pytest.approx(15.0)  # halfway in log2
    assert sram_access_pj(anchors, 32768) == 20.0
    assert sram_access_pj(anchors, 2**30) == 100.0
    assert PRESETS["memory-aware-45nm"].price("weight_read", 8192) == 5.0  # a 32-bit word: half a 64-bit access
    assert set(MEMORY_TERMS) <= set(TERMS)


def test_user_cost_tables(tmp_path, run):
    net, rec = run
    doc = {"name": "chip", "source": "sheet", "costs_pj": {"sop": 2.0, "mac": 3.0}, "not_counted": ["io"]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    (tmp_path / "c.toml").write_text(
        'name = "chip"\nsource = "sheet"\nnot_counted = ["io"]\n[costs_pj]\nsop = 2.0\nmac = 3.0\n'
    )
    tables = [load_cost_table(tmp_path / "c.json")]
    try:
        import tomllib  # noqa: F401

        tables.append(load_cost_table(tmp_path / "c.toml"))
    except ImportError:  # Python 3.10
        pass
    for table in tables:
        report = energy_report(net, rec, table)
        counts = report.snn_counts
        assert report.snn.total_pj == pytest.approx(2 * counts.total("sop") + 3 * counts.total("mac"))
        assert "io" in report.not_counted
    bad = {
        "b1.json": "{not json",
        "b2.json": json.dumps({"costs_pj": {"flops": 1.0}}),
        "b3.json": json.dumps({"costs_pj": {"sop": -1}}),
        "b4.json": json.dumps({"costs_pj": {"sop": 1}, "colour": "red"}),
        "b5.json": json.dumps({"costs_pj": {"sop": 1}, "sram_pj_per_64bit": [[32768, 20], [8192, 10]]}),
        "b6.json": json.dumps([1, 2]),
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ModelFileError):
            load_cost_table(tmp_path / name)
    with pytest.raises(ModelFileError):
        load_cost_table(tmp_path / "missing.json")
    with pytest.raises(DataError):
        CostTable("x", "", "", {"sop": math.inf})
