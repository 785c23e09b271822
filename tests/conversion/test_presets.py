"""Presets and options: what each sets, which combinations are refused, and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS

import eventsim
from eventsim.conversion import PRESETS


@pytest.mark.parametrize("preset", ["robust", "opi-opt", "ftbc"])
def test_calibration_is_reproducible(digits, preset):
    graph, data = digits
    a = eventsim.convert(graph, data["x_calib"], preset, T=8, per_channel=True)
    b = eventsim.convert(graph, data["x_calib"], preset, T=8, per_channel=True)
    for name in a.layers:
        for field in ("threshold", "v0", "temporal_bias"):
            left, right = getattr(a.layers[name], field), getattr(b.layers[name], field)
            assert (left is None and right is None) or np.array_equal(left, right)


def test_presets_and_their_errors(digits):
    graph, data = digits
    x = data["x_calib"]
    assert set(PRESETS) == {"baseline", "robust", "opi", "opi-opt", "qcfs", "ftbc", "bsnn", "ttfs", "auto"}
    base = eventsim.convert(graph, x, "baseline")
    assert all(float(layer.v0.max()) == 0 for layer in base.layers.values())
    opi = eventsim.convert(graph, x, "opi")
    for name, layer in opi.layers.items():
        assert np.array_equal(layer.threshold, base.layers[name].threshold)
        assert np.allclose(layer.v0, layer.threshold / 2)
    with pytest.raises(ValueError, match="valid presets"):
        eventsim.convert(graph, x, "fancy")
    with pytest.raises(ValueError, match="valid options"):
        eventsim.convert(graph, x, "opi", colour="red")
    with pytest.raises(ValueError, match="pass T"):
        eventsim.convert(graph, x, "ftbc")
    with pytest.raises(eventsim.UnsupportedError, match="QCFS"):
        eventsim.convert(graph, x, "qcfs")
    with pytest.raises(eventsim.DataError, match="calibration data"):
        eventsim.convert(graph, None, "baseline")
    qcfs_graph = eventsim.load_onnx(MODELS / "qcfs_cnn.onnx")
    qnet = eventsim.convert(qcfs_graph, None, "qcfs")
    assert [float(layer.threshold) for layer in qnet.layers.values()] == [2.0, 3.0]
