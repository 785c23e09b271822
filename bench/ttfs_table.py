"""TTFS against rate-coded presets on the bundled models at equal total time steps: accuracy, spikes
per neuron, synaptic events and energy.

For each model and TTFS window K: convert with ``ttfs`` and simulate T = K × (stages + 1) steps (the
full result); convert with ``opi`` and ``ftbc`` for the same T and simulate them for T steps; report
accuracy at T, spikes per neuron per sample, SOPs per sample and the energy per sample under the
fp32 and memory-aware presets. Prints markdown; ``--out`` writes ttfs_table.md and .json.

    python bench/ttfs_table.py [--windows 4,8,16] [--samples 500] [--models ...] [--out docs/accuracy]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _tables import write_table

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data

PRESETS = ("opi", "ftbc")
ENERGY = ("fp32-45nm", "memory-aware-45nm")


def measure(net, x, y, T: int, encoding: str) -> dict:
    rec = eventsim.simulate(net, x, T, encoding=encoding)
    reports = {p: eventsim.energy_report(net, rec, p) for p in ENERGY}
    return {
        "accuracy": float(rec.accuracy(y)[-1]),
        "spikes_per_neuron": float(rec.spikes_per_sample.sum(axis=1).mean() / rec.neurons.sum()),
        "max_spikes_per_neuron": int(max(c.max() for c in rec.neuron_counts.values())) / len(x),
        "sops": reports["fp32-45nm"].snn_counts.total("sop"),
        "energy_nj": {p: r.snn.total_pj / 1e3 for p, r in reports.items()},
        "ann_energy_nj": {p: r.ann.total_pj / 1e3 for p, r in reports.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="4,8,16")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--models", default=",".join(example_names()))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        graph = eventsim.load_onnx(example_model_path(name))
        data = load_example_data(example_data_name(name))
        x, y = data["x_test"][: args.samples], data["y_test"][: args.samples]
        ann = float(np.mean(np.argmax(eventsim.run_ann(graph, x).reshape(len(x), -1), axis=1) == y))
        for window in (int(k) for k in args.windows.split(",")):
            start = time.perf_counter()
            net = eventsim.convert(graph, data["x_calib"], "ttfs", window=window)
            T = net.meta["ttfs"]["steps"]
            row = {"model": name, "ann": ann, "window": window, "T": T, "ttfs": measure(net, x, y, T, "ttfs")}
            for preset in PRESETS:
                row[preset] = measure(eventsim.convert(graph, data["x_calib"], preset, T=T), x, y, T, "direct")
            rows.append(row)
            print(f"{name} K={window} T={T}: {time.perf_counter() - start:.0f} s", flush=True)
    write_table(args.out, "ttfs_table", markdown(rows), rows)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | ANN | K | T | accuracy ttfs / opi / ftbc | spikes per neuron ttfs / opi / ftbc | "
        "SOPs ttfs / opi | energy nJ fp32 ttfs / opi / ANN | energy nJ memory-aware ttfs / opi / ANN |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, o, f = r["ttfs"], r["opi"], r["ftbc"]
        lines.append(
            f"| {r['model']} | {100 * r['ann']:.1f} | {r['window']} | {r['T']} | "
            f"{100 * t['accuracy']:.1f} / {100 * o['accuracy']:.1f} / {100 * f['accuracy']:.1f} | "
            f"{t['spikes_per_neuron']:.2f} / {o['spikes_per_neuron']:.2f} / {f['spikes_per_neuron']:.2f} | "
            f"{t['sops']:,.0f} / {o['sops']:,.0f} | "
            f"{t['energy_nj']['fp32-45nm']:.0f} / {o['energy_nj']['fp32-45nm']:.0f} / "
            f"{t['ann_energy_nj']['fp32-45nm']:.0f} | "
            f"{t['energy_nj']['memory-aware-45nm']:.0f} / {o['energy_nj']['memory-aware-45nm']:.0f} / "
            f"{t['ann_energy_nj']['memory-aware-45nm']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
