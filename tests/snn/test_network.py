"""The spiking network: its fingerprint, its file (format v1, also as written by earlier versions) and
its validation."""

from __future__ import annotations

import eventsim


def test_fingerprint_follows_the_content(digits_opi, tmp_path):
    net = digits_opi[0]
    net.save(tmp_path / "n.npz")
    again = eventsim.SpikingNetwork.load(tmp_path / "n.npz")
    assert again.fingerprint() == net.fingerprint()
    name = next(iter(again.layers))
    again.layers[name].threshold = again.layers[name].threshold * 2
    assert again.fingerprint() != net.fingerprint()
