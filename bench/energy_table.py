"""Energy per sample of the converted bundled models against their ANNs, at the time steps each
preset needs to come within 1 % of the ANN's accuracy.

Reads the smallest such T per model and preset from the accuracy table (bench/accuracy_table.py's
JSON), converts with that preset for that T, simulates the test split for T steps and prices the
exact counts under the energy presets. Prints a markdown table; ``--out`` also writes it (and JSON).

    python bench/energy_table.py [--accuracy docs/accuracy/accuracy_table.json] [--samples 500]
                                 [--presets opi,ftbc] [--out docs/accuracy]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _tables import write_table

import eventsim
from eventsim.examples import example_data_name, example_model_path, load_example_data
from eventsim.measure.compare import steps_to_reach

ENERGY = ("fp32-45nm", "int8-45nm", "memory-aware-45nm", "loihi")


def row(name: str, preset: str, T: int, samples: int | None) -> dict:
    graph = eventsim.load_onnx(example_model_path(name))
    data = load_example_data(example_data_name(name))
    x, y = data["x_test"][:samples], data["y_test"][:samples]
    net = eventsim.convert(graph, data["x_calib"], preset, T=T)
    rec = eventsim.simulate(net, x, T)
    reports = {p: eventsim.energy_report(net, rec, p) for p in ENERGY}
    base = reports["memory-aware-45nm"]
    return {
        "model": name,
        "preset": preset,
        "T": T,
        "accuracy": float(rec.accuracy(y)[-1]),
        "spikes_per_neuron": float(rec.spikes_per_sample.sum(axis=1).mean() / rec.neurons.sum()),
        "sops_per_sample": base.snn_counts.total("sop"),
        "snn_macs_per_sample": base.snn_counts.total("mac"),
        "ann_macs_per_sample": base.ann_counts.total("mac"),
        "energy_nj": {p: r.snn.total_pj / 1e3 for p, r in reports.items()},
        "ann_energy_nj": {p: (r.ann.total_pj / 1e3 if r.ratio is not None else None) for p, r in reports.items()},
        "ann_over_snn": {p: r.ratio for p, r in reports.items()},
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | preset | T | accuracy | spikes/neuron | SOPs | SNN MACs | ANN MACs | "
        + " | ".join(f"ANN/SNN {p}" for p in ENERGY[:3])
        + " | SNN µJ loihi |",
        "|---|---|---|---|---|---|---|---|" + "---|" * 4,
    ]
    for r in rows:
        ratios = " | ".join(f"{r['ann_over_snn'][p]:.2f}" for p in ENERGY[:3])
        lines.append(
            f"| {r['model']} | {r['preset']} | {r['T']} | {100 * r['accuracy']:.2f} | {r['spikes_per_neuron']:.2f} | "
            f"{r['sops_per_sample']:,.0f} | {r['snn_macs_per_sample']:,.0f} | {r['ann_macs_per_sample']:,.0f} | "
            f"{ratios} | {r['energy_nj']['loihi'] / 1e3:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", default="docs/accuracy/accuracy_table.json")
    parser.add_argument("--presets", default="opi,ftbc")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    tables = json.loads(Path(args.accuracy).read_text())
    rows = []
    for name, table in tables.items():
        for preset in args.presets.split(","):
            T = steps_to_reach(table, preset)
            if T is None:
                print(f"{name}/{preset}: never within 1 % of the ANN up to T={table['steps'][-1]}; skipped")
                continue
            start = time.perf_counter()
            rows.append(row(name, preset, T, args.samples))
            print(f"{name}/{preset} at T={T}: {time.perf_counter() - start:.0f} s", flush=True)
    write_table(args.out, "energy_table", markdown(rows), rows)


if __name__ == "__main__":
    main()
