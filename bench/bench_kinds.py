"""The step-major and layer-major engines against the reference engine for each neuron kind, on the
bundled mnist_lenet.

Converts the model with opi (IF neurons, then burst neurons with B = 2 and signed neurons), bsnn
(bistable, period 8) and ttfs (window 8), and runs opi's network once more with LIF neurons (leak
0.875, reset to zero: LIF networks are trained, not converted, so only its speed means something);
simulates 256 test samples with the three engines in the same run (best of three for the Numba
engines, after a warm-up that compiles), and prints images per second, the ratios and spikes per
neuron.

    python bench/bench_kinds.py [--samples 256]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import eventsim
from eventsim.examples import example_model_path, load_example_data

RUNS = (
    ("opi", {}, "direct", 32),
    ("opi", {"burst": 2}, "direct", 32),
    ("opi", {"kind": "signed"}, "direct", 32),
    ("bsnn", {"period": 8}, "direct", 40),
    ("ttfs", {"window": 8}, "ttfs", None),
    ("lif", {}, "direct", 32),
)


def network(graph, x_calib, preset: str, options: dict, T: int | None) -> eventsim.SpikingNetwork:
    """The preset's network; ``lif``: opi's, every layer LIF with leak 0.875 and reset to zero."""
    if preset != "lif":
        return eventsim.convert(graph, x_calib, preset, T=T, **options)
    net = eventsim.convert(graph, x_calib, "opi", T=T)
    layers = {
        name: dataclasses.replace(layer, kind="lif", leak=0.875, reset="zero") for name, layer in net.layers.items()
    }
    return eventsim.SpikingNetwork(net.graph, layers, net.meta, net.decoding)


def _label(preset: str, options: dict) -> str:
    """The preset, with the neurons when they are not the preset's own."""
    if "burst" in options:
        return f"{preset} B={options['burst']}"
    return f"{preset} {options['kind']}" if "kind" in options else preset


def rate(net, x, T: int, engine: str, encoding: str, repeats: int) -> tuple[float, eventsim.Recording]:
    best, rec = 0.0, None
    for _ in range(repeats):
        start = time.perf_counter()
        rec = eventsim.simulate(net, x, T, engine=engine, encoding=encoding)
        best = max(best, len(x) / (time.perf_counter() - start))
    return best, rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    graph = eventsim.load_onnx(example_model_path("mnist_lenet"))
    data = load_example_data("mnist")
    x = data["x_test"][: args.samples]
    print(
        f"{'preset':12s} {'T':>4s} {'event img/s':>12s} {'layer img/s':>12s} {'reference img/s':>16s} "
        f"{'event/ref':>9s} {'layer/ref':>9s} {'spikes/neuron':>14s}"
    )
    for preset, options, encoding, T in RUNS:
        net = network(graph, data["x_calib"], preset, options, T)
        T = T or net.meta["ttfs"]["steps"]
        for engine in ("event", "layer"):
            eventsim.simulate(net, x[:8], T, engine=engine, encoding=encoding)  # compile
        event, rec = rate(net, x, T, "event", encoding, 3)
        layer, _ = rate(net, x, T, "layer", encoding, 3)
        reference, _ = rate(net, x, T, "reference", encoding, 1)
        per_neuron = rec.spikes_per_sample.sum(axis=1).mean() / rec.neurons.sum()
        print(
            f"{_label(preset, options):12s} {T:4d} {event:12.0f} {layer:12.0f} {reference:16.0f} "
            f"{event / reference:9.1f} {layer / reference:9.1f} {per_neuron:14.2f}"
        )


if __name__ == "__main__":
    main()
