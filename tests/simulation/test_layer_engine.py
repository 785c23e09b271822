"""The layer engine's choices and limits, and the ``auto`` engine's choice between the engines. That
every choice gives the reference's spikes bit for bit is shown in ``test_engines.py``."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest
from checks import assert_identical
from snn_builders import NetBuilder, exact_network, grid

import eventsim
from eventsim.errors import DataError
from eventsim.simulation import auto
from eventsim.simulation.layer import costs as cost_model
from eventsim.simulation.layer.costs import WIDTHS


def conv_net(seed: int = 0):
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (2, 8, 8), normalise=True)
    first = b.relu(b.conv("x", 4, 3, 1, 1, 1, 1))
    b.relu(b.conv(first, 6, 3, 1, 1, 1, 1))
    b.dense(b.flatten(b.current), 3)
    net = exact_network(b.graph(), rng, "half")
    return net, grid(rng, (5,) + net.graph.input_shape, 0, 1, 0.125)


def costs(sop: float, mac: float) -> dict:
    return {
        "sop": {"conv": [sop] * len(WIDTHS), "dense": [sop] * len(WIDTHS)},
        "mac": {"conv": [mac] * len(WIDTHS), "dense": [mac] * len(WIDTHS)},
        "scan": 1e-15,
        "threads": 2,
    }


@pytest.mark.parametrize(
    "sop, mac, method", [(1e-12, 1e-9, "events"), (1e-9, 1e-13, "dense")], ids=["cheap-events", "cheap-macs"]
)
def test_the_cost_model_picks_the_cheaper_method(sop, mac, method):
    net, x = conv_net()
    rec = eventsim.simulate(net, x, 6, engine="layer", engine_options={"costs": costs(sop, mac)})
    rows = rec.settings["rows_by_method"]
    weighted = [n.name for n in net.graph.nodes if n.op in ("conv", "dense")]
    assert set(rows) == set(weighted[1:])  # with direct coding the first conv is static
    assert all(r[method] == 6 * len(x) and sum(r.values()) == 6 * len(x) for r in rows.values())
    assert_identical(rec, eventsim.simulate(net, x, 6, engine="reference"))


def test_a_small_budget_cuts_the_steps_and_changes_nothing():
    net, x = conv_net(1)
    engine_class = eventsim.simulation.get_engine("layer")
    plan = eventsim.simulation.SimulationPlan.build(net, 40)
    assert engine_class(plan, memory=2**30).chunk_shape(5) == (5, 40)
    samples, steps = engine_class(plan, memory=20_000).chunk_shape(5)
    assert samples == 1 and 1 <= steps < 40
    small = eventsim.simulate(net, x, 40, engine="layer", engine_options={"memory": 20_000}, raster_samples=(1,))
    whole = eventsim.simulate(net, x, 40, engine="reference", raster_samples=(1,))
    assert_identical(small, whole)


@pytest.mark.parametrize(
    "options, problem",
    [({"method": "fast"}, "unknown method"), ({"memory": 0}, "memory budget"), ({"threads": 2}, "does not take")],
)
def test_bad_engine_options_are_refused_by_name(options, problem):
    net, x = conv_net()
    with pytest.raises(DataError, match=problem):
        eventsim.simulate(net, x, 4, engine="layer", engine_options=options)


def test_options_of_another_engine_are_refused():
    net, x = conv_net()
    with pytest.raises(DataError, match="does not take"):
        eventsim.simulate(net, x, 4, engine="event", engine_options={"method": "dense"})


def test_auto_picks_the_engine_by_network_size_and_batch(monkeypatch):
    net, x = conv_net()
    monkeypatch.setattr(auto, "SMALL_NETWORK", 0)  # treat this network as a middle-sized one
    per_core = 2 * numba.get_num_threads()
    data = np.concatenate([x] * per_core)[: per_core + 1]
    rec = eventsim.simulate(net, data, 5, batch_size=per_core)  # one full batch, then one sample
    assert rec.settings["samples_by_engine"] == {"event": per_core, "layer": 1}
    assert_identical(rec, eventsim.simulate(net, data, 5, engine="reference"))
    monkeypatch.setattr(auto, "LARGE_NETWORK", 1)  # a large one: layer-major at any batch size
    large = eventsim.simulate(net, data, 5, batch_size=per_core)
    assert large.settings["samples_by_engine"] == {"layer": per_core + 1}
    monkeypatch.setattr(auto, "SMALL_NETWORK", 10**9)  # a small one: step-major at any batch size
    small = eventsim.simulate(net, x[:1], 5)
    assert small.settings["samples_by_engine"] == {"event": 1}


def test_cost_tables_are_read_from_the_override_and_bad_ones_refused(tmp_path, monkeypatch):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(costs(2e-9, 3e-11)))
    bad.write_text(json.dumps({**costs(1e-9, 1e-9), "scan": -1}))
    monkeypatch.setattr(cost_model, "_MEMO", {})
    monkeypatch.setenv("EVENTSIM_LAYER_COSTS", str(good))
    table = cost_model.machine_costs()
    assert table.per_width(table.sop, "conv", 64) == pytest.approx(2e-9)
    monkeypatch.setenv("EVENTSIM_LAYER_COSTS", str(bad))
    with pytest.raises(DataError, match="cost table"):
        cost_model.machine_costs()
    monkeypatch.setenv("EVENTSIM_LAYER_COSTS", str(tmp_path / "missing.json"))
    with pytest.raises(DataError, match="does not exist"):
        cost_model.machine_costs()


def test_costs_are_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(cost_model, "_MEMO", {})
    monkeypatch.delenv("EVENTSIM_LAYER_COSTS", raising=False)
    monkeypatch.setenv("EVENTSIM_CACHE_DIR", str(tmp_path))
    measured = cost_model.machine_costs()
    path = cost_model.cache_path()
    assert path.parent == tmp_path and path.is_file()
    monkeypatch.setattr(cost_model, "_MEMO", {})
    monkeypatch.setattr(cost_model, "measure", lambda: pytest.fail("measured again"))
    assert cost_model.machine_costs() == measured
    assert all(v > 0 for table in (measured.mac, measured.sop) for row in table.values() for v in row)


@pytest.mark.slow
@pytest.mark.parametrize("name", eventsim.examples.example_names())
def test_bundled_models_give_the_reference_accuracy_curve(name):
    """Arbitrary float weights: every method of the layer engine sums in another order than the
    reference, so spikes may differ in rare near-threshold cases; the accuracy at every step and the
    spike count may not move by more than that."""
    graph = eventsim.load_onnx(eventsim.examples.example_model_path(name))
    data = eventsim.examples.load_example_data(eventsim.examples.example_data_name(name))
    net = eventsim.convert(graph, data["x_calib"][:200])
    x, y = data["x_test"][:100], data["y_test"][:100]
    ref = eventsim.simulate(net, x, 24, engine="reference")
    for method in ("auto", "events", "dense"):
        rec = eventsim.simulate(net, x, 24, engine="layer", engine_options={"method": method})
        assert np.max(np.abs(rec.accuracy(y) - ref.accuracy(y))) <= 0.01
        total = int(ref.spikes_per_sample.sum())
        assert total > 0 and abs(int(rec.spikes_per_sample.sum()) - total) <= 1e-3 * total
