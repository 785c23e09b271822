"""Latency from recordings, against hand-computed cases and the recording of a real run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.latency import latency
from eventsim.simulation.recording import Recording
from eventsim.snn.network import NeuronLayer


def recording_from_predictions(pred: np.ndarray, classes: int = 3) -> Recording:
    n, T = pred.shape
    outputs = np.zeros((n, T, classes), np.float32)
    outputs[np.arange(n)[:, None], np.arange(T)[None, :], pred] = 1.0
    empty = np.zeros((0, T), np.int64)
    return Recording(
        T,
        outputs,
        [],
        np.zeros(0, np.int64),
        empty,
        np.zeros((n, 0), np.int64),
        {},
        [],
        empty,
        np.zeros((n, 0), np.int64),
        wall_seconds=2.0,
    )


def test_hand_computed_cases():
    pred = np.array([[0, 1, 1, 1], [2, 2, 2, 2], [1, 0, 1, 0], [0, 0, 1, 1]])
    lat = latency(
        recording_from_predictions(pred), labels=np.array([1, 2, 0, 1]), ann_predictions=np.array([1, 2, 1, 0])
    )
    np.testing.assert_array_equal(lat.decision, [2, 1, 4, 3])
    np.testing.assert_array_equal(lat.first_ann_match, [2, 1, 1, 1])
    np.testing.assert_array_equal(lat.stable_ann_match, [2, 1, 5, 5])
    np.testing.assert_array_equal(lat.correct_decision, [True, True, True, True])
    summary = lat.summary()
    assert summary["decision_histogram"] == [1, 1, 1, 1] and summary["seconds_per_sample"] == 0.5


@settings(max_examples=50)
@given(st.lists(st.lists(st.integers(0, 2), min_size=5, max_size=5), min_size=1, max_size=6))
def test_decision_is_the_start_of_the_final_run(rows):
    pred = np.array(rows)
    lat = latency(recording_from_predictions(pred))
    for i, row in enumerate(rows):
        t = lat.decision[i]
        assert all(v == row[-1] for v in row[t - 1 :])
        assert t == 1 or row[t - 2] != row[-1]


def test_latency_of_a_real_run():
    data = load_example_data()
    graph = eventsim.load_onnx(example_model_path())
    net = eventsim.convert(graph, data["x_calib"], "opi")
    x, y = data["x_test"][:60], data["y_test"][:60]
    rec = eventsim.simulate(net, x, 32)
    ann = np.argmax(eventsim.run_ann(graph, x), axis=1)
    lat = latency(rec, y, ann)
    assert lat.decision.min() >= 1 and lat.decision.max() <= 32
    assert np.all((lat.first_ann_match <= lat.stable_ann_match) | (lat.stable_ann_match == 33))
    summary = lat.summary()
    assert list(summary["first_spike_mean"]) == rec.layers
    assert all(1 <= v <= 33 for v in summary["first_spike_mean"].values())
    # at T, agreeing with the ANN is the same as having a stable match that started by T
    assert rec.agreement(ann)[-1] == np.mean(lat.stable_ann_match <= 32)


# --- undecided samples: an output that has received nothing, or has no unique largest entry ---


def recording_from_outputs(outputs: np.ndarray) -> Recording:
    rec = recording_from_predictions(np.zeros(outputs.shape[:2], np.int64), outputs.shape[2])
    rec.outputs = np.asarray(outputs, np.float32)
    return rec


def zero_until(first: list[int], classes: list[int], T: int, n_classes: int = 3) -> np.ndarray:
    """Outputs all zero before step first[i], then one-hot on classes[i] (a first step > T: always zero)."""
    outputs = np.zeros((len(first), T, n_classes), np.float32)
    for i, (k, c) in enumerate(zip(first, classes)):
        outputs[i, k - 1 :, c] = 1.0
    return outputs


def test_outputs_zero_until_step_k_are_undecided_before_k():
    T = 6
    first, classes = [1, 3, 6, 7, 9], [2, 1, 0, 1, 0]
    labels = np.array([2, 1, 0, 0, 0])  # the never-decided samples have label 0: argmax of zeros would be "right"
    rec = recording_from_outputs(zero_until(first, classes, T))
    t = np.arange(1, T + 1)
    decided = t[None, :] >= np.array(first)[:, None]
    np.testing.assert_array_equal(rec.decided(), decided)
    np.testing.assert_array_equal(rec.predictions(), np.where(decided, np.array(classes)[:, None], -1))
    # accuracy at t: decided by t and right; the undecided samples count as wrong whatever their label
    expected = [np.mean([f <= s and c == y for f, c, y in zip(first, classes, labels)]) for s in t]
    np.testing.assert_allclose(rec.accuracy(labels), expected)
    lat = latency(rec, labels, ann_predictions=np.array(classes))
    np.testing.assert_array_equal(lat.decision, [1, 3, 6, 7, 7])  # T + 1 = 7: never decided
    np.testing.assert_array_equal(lat.first_ann_match, [1, 3, 6, 7, 7])
    np.testing.assert_array_equal(lat.correct_decision, [True, True, True, False, False])
    summary = lat.summary()
    assert summary["never_decided"] == 2 == lat.never_decided
    assert summary["decision_mean"] == pytest.approx((1 + 3 + 6) / 3) and summary["decision_median"] == 3
    assert summary["decision_histogram"] == [1, 0, 1, 0, 0, 1]
    assert summary["undecided_per_step"] == [int(np.sum(np.array(first) > s)) for s in t] == [4, 4, 3, 3, 3, 2]
    assert summary["final_accuracy"] == pytest.approx(rec.accuracy(labels)[-1])
    assert summary["never_matched_ann"] == 2


def test_no_sample_decided():
    lat = latency(recording_from_outputs(np.zeros((3, 4, 5))))
    summary = lat.summary()
    assert summary["decision_mean"] is None and summary["decision_median"] is None
    assert summary["never_decided"] == 3 and summary["decision_histogram"] == [0, 0, 0, 0]


def test_ties_at_the_top_are_undecided():
    outputs = np.array([[[2, 2, 1], [2, 1, 1], [-1, -1, -1], [0, 3, 3], [0, 3, 2]]], np.float32)
    rec = recording_from_outputs(outputs)
    np.testing.assert_array_equal(rec.predictions(), [[-1, 0, -1, -1, 1]])
    assert latency(rec).decision.tolist() == [5]
    # a tie below the top does not matter; a tie at the top does, even between negative entries
    np.testing.assert_array_equal(rec.decided(), [[False, True, False, False, True]])


def naive_latency(outputs: np.ndarray) -> tuple[list[list[int]], list[int]]:
    """Predictions (-1: no unique largest entry) and decision steps by loops over samples and steps."""
    preds, decisions = [], []
    for sample in outputs:
        row = []
        for o in sample:
            top = [c for c in range(len(o)) if o[c] == max(o)]
            row.append(top[0] if len(top) == 1 else -1)
        preds.append(row)
        T, t = len(row), len(row)
        if row[-1] == -1:
            decisions.append(T + 1)
            continue
        while t > 1 and row[t - 2] == row[-1]:
            t -= 1
        decisions.append(t)
    return preds, decisions


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_undecided_against_loops(data):
    n, T, c = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    values = data.draw(st.lists(st.integers(-1, 2), min_size=n * T * c, max_size=n * T * c))
    outputs = np.array(values, np.float32).reshape(n, T, c)  # small integers: ties are common
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    rec = recording_from_outputs(outputs)
    preds, decisions = naive_latency(outputs)
    np.testing.assert_array_equal(rec.predictions(), preds)
    lat = latency(rec, labels)
    np.testing.assert_array_equal(lat.decision, decisions)
    np.testing.assert_allclose(rec.accuracy(labels), np.mean(np.array(preds) == labels[:, None], axis=0))
    assert lat.never_decided == sum(p[-1] == -1 for p in preds)
    assert lat.summary()["undecided_per_step"] == [sum(p[t] == -1 for p in preds) for t in range(T)]


def delayed_network(theta: float = 8.0, bias: float = 0.01) -> eventsim.SpikingNetwork:
    """input (1 value) → dense ×1 → IF (θ, v0 = 0) → dense to 3 classes: the neuron's spikes go to
    class 1; class 0 has a small bias, so before the first spike the output is that bias alone."""
    b = NetBuilder(np.random.default_rng(0), (1,), normalise=False)
    b.relu(b.add("dense", ["x"], {}, {"W": np.ones((1, 1), np.float32), "b": np.zeros(1, np.float32)}))
    w = np.array([[0.0], [1.0], [0.0]], np.float32)
    b.add("dense", [b.current], {}, {"W": w, "b": np.array([bias, 0, 0], np.float32)})
    graph = b.graph()
    layer = graph.activation_nodes()[0].name
    return eventsim.SpikingNetwork(graph, {layer: NeuronLayer(np.float32(theta), np.float32(0.0))})


@pytest.mark.parametrize("engine", ["event", "layer", "reference"])
def test_network_whose_output_is_reached_at_step_k(engine):
    """A constant input x makes the IF neuron (θ = 8, v0 = 0) fire first at k = 8 / x: before k the
    output holds only the bias (class 0 ahead, for every input), which is no decision."""
    net, T = delayed_network(), 12
    x = np.array([[8.0], [4.0], [2.0], [1.0], [0.0]], np.float32)
    k = np.array([1, 2, 4, 8, T + 1])  # x = 0: the neuron never fires
    labels = np.array([1, 1, 1, 1, 0])
    rec = eventsim.simulate(net, x, T, engine=engine)
    np.testing.assert_array_equal(rec.output_reached(), k)
    t = np.arange(1, T + 1)
    np.testing.assert_array_equal(rec.decided(), t[None, :] >= k[:, None])
    np.testing.assert_allclose(rec.accuracy(labels), [np.mean((k <= s) & (labels == 1)) for s in t])
    lat = latency(rec, labels, ann_predictions=labels)
    np.testing.assert_array_equal(lat.decision, k)
    summary = lat.summary()
    assert summary["never_decided"] == 1 and summary["decision_mean"] == pytest.approx(15 / 4)
    assert summary["undecided_per_step"] == [int(np.sum(k > s)) for s in t]
    assert summary["final_accuracy"] == pytest.approx(0.8)


def test_ttfs_network_is_undecided_until_its_output_layer_fires():
    """On a TTFS network the output holds the bias, the same for every input, until the last layer's
    first spike: no sample decides before it (the old reading had ~10 % "decided at step 1")."""
    data = load_example_data()
    net = eventsim.convert(eventsim.load_onnx(example_model_path()), data["x_calib"], "ttfs")
    x, y, T = data["x_test"][:40], data["y_test"][:40], net.result_steps + 8
    rec = eventsim.simulate(net, x, T, encoding="ttfs")
    reached = rec.output_reached()
    np.testing.assert_array_equal(reached, rec.first_spike[:, -1])  # the last layer feeds the output
    for s in range(T):  # before its output is reached, every sample's output is the same (bias) vector
        waiting = rec.outputs[reached > s + 1, s]
        assert len(np.unique(waiting, axis=0)) <= 1
    lat = latency(rec, y)
    assert lat.decision.min() >= reached.min() > 1
    assert rec.accuracy(y)[: reached.min() - 1].max() == 0.0
    assert lat.summary()["undecided_per_step"][0] == len(x)
