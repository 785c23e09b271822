"""The ``auto`` preset: its recorded held-out scores against an independent re-conversion, that it
never looks at test data, determinism, and that it finds per-channel thresholds where they matter."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx_builders import Builder

import eventsim
import eventsim.measure.compare as compare_module
from eventsim.conversion.auto import MIN_HOLDOUT, split_holdout
from eventsim.measure.compare import compare

T = 4


def _agreement(net, x, ann_logits, T: int) -> tuple[float, float]:
    """Share of ``x`` whose SNN argmax at step T equals the ANN's, and the rate output's squared error
    against the ANN's logits over their mean square, simulated by the dense reference engine (not
    the one ``auto`` used)."""
    rec = eventsim.simulate(net, x, T, engine="reference")
    rates = rec.outputs[:, T - 1] / T
    error = float(np.mean((rates - ann_logits) ** 2) / np.mean(ann_logits**2))
    return float(np.mean(rec.predictions()[:, -1] == ann_logits.argmax(axis=1))), error


def _check_stages(record: dict) -> None:
    """Stage 2 tries v0/FTBC on stage 1's best threshold setting (most agreement, then the smallest
    output error)."""
    first = [c for c in record["candidates"] if c["stage"] == 1]
    second = [c for c in record["candidates"] if c["stage"] == 2]
    best = max(first, key=lambda c: (c["agreement"], -c["output_error"], -c["spikes_per_sample"]))
    assert second
    keys = ("threshold", "per_channel", "percentile")
    for c in second:
        assert {k: c["options"].get(k) for k in keys} == {k: best["options"].get(k) for k in keys}
        assert (c["options"]["v0"], c["options"]["ftbc"]) != ("half", False)
    # stage 3: the best IF recipe of stages 1–2 with burst and signed neurons, chosen only if
    # strictly better
    plain = first + second

    def key(c):
        return (-1 if c["accuracy"] is None else c["accuracy"], c["agreement"])

    best = max(plain, key=lambda c: key(c) + (-c["output_error"], -c["spikes_per_sample"]))
    third = [c for c in record["candidates"] if c["stage"] == 3]
    assert sorted((c["options"]["burst"] or 0, c["options"]["kind"] or "") for c in third) == [
        (0, "signed"),
        (2, ""),
        (4, ""),
    ]
    for c in third:
        assert {**c["options"], "burst": None, "kind": None} == best["options"]
    chosen = record["candidates"][record["chosen"]]
    if chosen["options"]["burst"] is not None or chosen["options"]["kind"] is not None:
        assert all(key(chosen) > key(c) for c in plain)


@pytest.fixture(scope="module")
def digits_auto(digits):
    graph, data = digits
    return graph, data, eventsim.convert(graph, data["x_calib"], "auto", T=T)


def test_recorded_scores_match_an_independent_reconversion(digits_auto):
    graph, data, net = digits_auto
    x = data["x_calib"]
    record = net.meta["auto"]
    held = np.asarray(record["holdout_indices"])
    fit = np.setdiff1d(np.arange(len(x)), held)
    assert len(held) == record["holdout_samples"] == int(np.ceil(0.25 * len(x)))
    assert len(fit) == record["fit_samples"] == len(x) - len(held)
    ann = eventsim.run_ann(graph, x[held]).reshape(len(held), -1)
    for candidate in record["candidates"]:
        again = eventsim.convert(graph, x[fit], candidate["preset"], T=T, **candidate["options"])
        agreement, error = _agreement(again, x[held], ann, T)
        assert agreement == candidate["agreement"], candidate["name"]
        assert error == pytest.approx(candidate["output_error"], rel=1e-4), candidate["name"]
        assert candidate["accuracy"] is None  # no labels were given
    chosen = record["candidates"][record["chosen"]]
    assert all(chosen["agreement"] >= c["agreement"] for c in record["candidates"])
    assert any(c["stage"] == 2 for c in record["candidates"])  # FTBC / optimised v0 were re-scored too
    _check_stages(record)
    # the network returned is the chosen recipe calibrated on all the calibration data
    final = eventsim.convert(graph, x, chosen["preset"], T=T, **chosen["options"])
    assert final.fingerprint() == net.fingerprint()
    assert net.meta["preset"] == "auto" and record["criterion"] == "agreement"


def test_auto_never_sees_the_test_set(digits, monkeypatch):
    """compare with the real test set and with a poisoned one (random inputs, random labels) makes the
    same auto networks: the choice depends on the calibration data alone."""
    graph, data = digits
    made = []
    real_convert = compare_module.convert

    def spy(*args, **kwargs):
        net = real_convert(*args, **kwargs)
        made.append((net.fingerprint(), [c["agreement"] for c in net.meta["auto"]["candidates"]]))
        return net

    monkeypatch.setattr(compare_module, "convert", spy)
    rng = np.random.default_rng(7)
    poisoned_x = rng.uniform(-50, 50, data["x_test"][:60].shape).astype(np.float32)
    poisoned_y = rng.integers(0, 10, 60)
    calib = data["x_calib"][:160]
    real = compare(graph, calib, data["x_test"][:60], data["y_test"][:60], ["auto"], [2, 4])
    first = list(made)
    made.clear()
    fake = compare(graph, calib, poisoned_x, poisoned_y, ["auto"], [2, 4])
    assert made == first and len(made) == 2  # one auto network per T, identical
    assert real["presets"]["auto"]["auto_choices"] == fake["presets"]["auto"]["auto_choices"]


def test_same_seed_same_network_and_labels_rank_first(digits, digits_auto):
    graph, data, net = digits_auto
    again = eventsim.convert(graph, data["x_calib"], "auto", T=T)
    assert again.fingerprint() == net.fingerprint()
    strip = [{k: v for k, v in c.items() if k != "seconds"} for c in net.meta["auto"]["candidates"]]
    assert strip == [{k: v for k, v in c.items() if k != "seconds"} for c in again.meta["auto"]["candidates"]]
    other = eventsim.convert(graph, data["x_calib"], "auto", T=T, seed=1)
    assert other.meta["auto"]["holdout_indices"] != net.meta["auto"]["holdout_indices"]
    labelled = eventsim.convert(graph, data["x_calib"], "auto", T=T, calib_y=data["y_calib"])
    record = labelled.meta["auto"]
    best = record["candidates"][record["chosen"]]
    assert record["criterion"].startswith("accuracy")
    assert all(best["accuracy"] >= c["accuracy"] for c in record["candidates"])


def test_auto_refusals(digits):
    graph, data = digits
    with pytest.raises(eventsim.errors.OptionError, match="pass T"):
        eventsim.convert(graph, data["x_calib"], "auto")
    with pytest.raises(eventsim.DataError, match="calibration data"):
        eventsim.convert(graph, None, "auto", T=4)
    with pytest.raises(eventsim.errors.OptionError, match="rate-coded recipes, not bistable"):
        eventsim.convert(graph, data["x_calib"], "auto", T=4, kind="bistable")
    with pytest.raises(eventsim.DataError, match="one per calibration input"):
        eventsim.convert(graph, data["x_calib"], "auto", T=4, calib_y=data["y_calib"][:3])


def test_fixed_options_restrict_the_search(digits):
    graph, data = digits
    net = eventsim.convert(graph, data["x_calib"][:120], "auto", T=4, per_channel=True, ftbc=False)
    candidates = net.meta["auto"]["candidates"]
    assert candidates and all(c["options"]["per_channel"] and not c["options"]["ftbc"] for c in candidates)
    assert len({c["name"] for c in candidates}) == len(candidates)


@settings(max_examples=examples(50))
@given(n=st.integers(2, 2000), seed=st.integers(0, 2**31))
def test_holdout_split(n, seed):
    fit, held = split_holdout(n, seed)
    assert np.array_equal(np.sort(np.concatenate([fit, held])), np.arange(n))
    assert len(held) >= min(MIN_HOLDOUT, n // 2) and len(held) >= np.ceil(0.25 * n) and len(fit) >= 1
    again = split_holdout(n, seed)
    assert np.array_equal(again[0], fit) and np.array_equal(again[1], held)


def _depthwise_model(tmp_path) -> eventsim.Graph:
    """Depthwise 3×3 conv over 4 channels whose weights differ by 100× (channels 2, 3 small), ReLU,
    then a dense layer that weighs the small channels 100× more, so that they decide the class."""
    b = Builder((4, 6, 6), seed=3)
    scale = np.array([1.0, 1.0, 0.01, 0.01], np.float32)
    w = np.abs(b.randn(4, 1, 3, 3)) * scale[:, None, None, None]
    h = b.op("Conv", ["x", b.const(w, "W")], group=4, pads=[1, 1, 1, 1])
    h = b.op("Relu", [h])
    h = b.op("Flatten", [h])
    dense = b.randn(4 * 36, 5) * np.repeat(1.0 / scale, 36)[:, None]
    out = b.op("MatMul", [h, b.const(dense.astype(np.float32), "D")])
    path = tmp_path / "depthwise.onnx"
    onnx.save(b.model(out), path)
    return eventsim.load_onnx(path)


def test_auto_picks_per_channel_thresholds_where_channels_differ(tmp_path):
    graph = _depthwise_model(tmp_path)
    x = np.random.default_rng(0).uniform(0, 1, (160, 4, 6, 6)).astype(np.float32)
    net = eventsim.convert(graph, x, "auto", T=T)
    record = net.meta["auto"]
    chosen = record["candidates"][record["chosen"]]
    assert chosen["options"]["per_channel"], record["chosen_name"]
    assert all(chosen["agreement"] >= c["agreement"] for c in record["candidates"])
    _check_stages(record)
    per_layer = [c["agreement"] for c in record["candidates"] if not c["options"]["per_channel"]]
    assert max(per_layer) < chosen["agreement"]


@pytest.mark.parametrize("neurons", [{"burst": 2}, {"kind": "signed"}])
def test_neurons_the_caller_fixes_are_kept_in_every_candidate(digits, neurons):
    """burst=B or kind='signed' given to auto: every candidate has those neurons, and stage 3 (which
    tries other neurons) is skipped."""
    graph, data = digits
    net = eventsim.convert(graph, data["x_calib"][:120], "auto", T=2, **neurons)
    record = net.meta["auto"]
    assert all(c["stage"] < 3 for c in record["candidates"])
    for c in record["candidates"]:
        assert {k: c["options"][k] for k in neurons} == neurons
    kind = "burst" if "burst" in neurons else "signed"
    assert {layer.kind for layer in net.layers.values()} == {kind}
