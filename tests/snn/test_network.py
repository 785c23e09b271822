"""The spiking network: its fingerprint, its file (format v1, also as written by earlier versions) and
its validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS

import eventsim


def test_fingerprint_follows_the_content(digits_opi, tmp_path):
    net = digits_opi[0]
    net.save(tmp_path / "n.npz")
    again = eventsim.SpikingNetwork.load(tmp_path / "n.npz")
    assert again.fingerprint() == net.fingerprint()
    name = next(iter(again.layers))
    again.layers[name].threshold = again.layers[name].threshold * 2
    assert again.fingerprint() != net.fingerprint()


@pytest.mark.parametrize(
    "name, key, encoding", [("digits_cnn_ftbc_v1", "ftbc", "direct"), ("digits_mlp_ttfs_v1", "ttfs", "ttfs")]
)
def test_files_written_by_the_previous_version_load_and_run_alike(name, key, encoding):
    """Network files of format v1 written by eventsim 0.1.0 before the restructure (an FTBC network
    with temporal biases; a TTFS network with phases, delays and temporal decoding) load, and
    simulate to the outputs and spike counts that version recorded (v1_expected.npz)."""
    net = eventsim.SpikingNetwork.load(MODELS / f"{name}.npz")
    with np.load(MODELS / "v1_expected.npz") as expected:
        x, outputs, counts = expected["x"], expected[f"{key}_outputs"], expected[f"{key}_counts"]
    rec = eventsim.simulate(net, x, outputs.shape[1], encoding=encoding)
    np.testing.assert_array_equal(rec.outputs, outputs)
    np.testing.assert_array_equal(rec.spikes_per_step, counts)
    assert {layer.kind for layer in net.layers.values()} == ({"if"} if key == "ftbc" else {"ttfs"})
