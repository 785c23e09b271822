"""Operation counts and energy: SOPs against an independent count from the spike rasters and the layer
geometry, ANN MACs against hand-computed figures, and the energy arithmetic's linearity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.errors import DataError, ModelFileError
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.counts import MEMORY_TERMS, TERMS, ann_counts, snn_counts
from eventsim.measure.energy import energy_report, price_counts
from eventsim.measure.energy_presets import PRESETS, CostTable, load_cost_table, sram_access_pj

# -- SOPs: an independent count from rasters ------------------------------------------------------


# -- ANN MACs -------------------------------------------------------------------------------------


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


@settings(max_examples=40)
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


@settings(max_examples=30)
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
