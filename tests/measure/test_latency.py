"""Latency from recordings, against hand-computed cases and the recording of a real run."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.latency import latency
from eventsim.simulation.recording import Recording


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
