"""BSNN against the rate-coded presets on the bundled models: time steps to come within 1 % of the
ANN, and spikes of inactivated neurons (spikes from neurons whose ANN pre-activation is ≤ 0).

The baseline/opi/ftbc accuracies come from the accuracy table (bench/accuracy_table.py's JSON, same
test samples); BSNN is converted and simulated here for each period, on the same samples, up to
``--max-steps``. Spikes of inactivated neurons are counted on ``--sin-samples`` samples for opi and
for BSNN at the same T. Prints markdown; ``--out`` writes bsnn_table.md and .json.

    python bench/bsnn_table.py [--accuracy docs/accuracy/accuracy_table.json] [--periods 4,8]
                               [--max-steps 512] [--samples 500] [--out docs/accuracy]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _tables import write_table

import eventsim
from eventsim.examples import example_data_name, example_model_path, load_example_data
from eventsim.measure.compare import compare, steps_to_reach


def _first_within(table: dict, preset: str) -> str:
    found = steps_to_reach(table, preset)
    return f">{table['steps'][-1]}" if found is None else str(found)


def inactive_spikes(graph, data, preset: str, T: int, samples: int, **options) -> tuple[float, float]:
    """Spikes per sample from ANN-inactive neurons, and their share of all spikes, at T."""
    net = eventsim.convert(graph, data["x_calib"], preset, T=T, **options)
    x = data["x_test"][:samples]
    rec = eventsim.simulate(net, x, T, raster_samples=range(samples))
    errors = eventsim.conversion_error(net, rec, x)
    spikes = sum(e.inactive_spikes for e in errors)
    total = rec.spikes_per_sample.sum(axis=1).mean()
    return spikes, spikes / total if total else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", default="docs/accuracy/accuracy_table.json")
    parser.add_argument("--periods", default="4,8")
    parser.add_argument("--max-steps", type=int, default=512)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--sin-samples", type=int, default=100)
    parser.add_argument("--sin-T", type=int, default=64)
    parser.add_argument("--models")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    tables = json.loads(Path(args.accuracy).read_text())
    periods = [int(p) for p in args.periods.split(",")]
    steps = [2**k for k in range(args.max_steps.bit_length()) if 2**k <= args.max_steps]
    rows = []
    for name, table in tables.items():
        if args.models and name not in args.models.split(","):
            continue
        graph = eventsim.load_onnx(example_model_path(name))
        data = load_example_data(example_data_name(name))
        x, y = data["x_test"][: table["samples"]], data["y_test"][: table["samples"]]
        start = time.perf_counter()
        bsnn = {p: compare(graph, data["x_calib"], x, y, ["bsnn"], steps, period=p) for p in periods}
        sin = {
            "opi": inactive_spikes(graph, data, "opi", args.sin_T, args.sin_samples),
            **{
                f"bsnn P={p}": inactive_spikes(graph, data, "bsnn", args.sin_T, args.sin_samples, period=p)
                for p in periods
            },
        }
        row = {
            "model": name,
            "ann": table["ann_accuracy"],
            "within_1pct": {preset: _first_within(table, preset) for preset in ("baseline", "opi", "ftbc")}
            | {f"bsnn P={p}": _first_within(bsnn[p], "bsnn") for p in periods},
            "bsnn_accuracy": {p: dict(zip(bsnn[p]["steps"], bsnn[p]["presets"]["bsnn"]["accuracy"])) for p in periods},
            "inactive_spikes": sin,
            "seconds": time.perf_counter() - start,
        }
        rows.append(row)
        print(f"{name}: {row['within_1pct']}  SIN {sin}  ({row['seconds']:.0f} s)", flush=True)
    write_table(args.out, "bsnn_table", markdown(rows, periods, args), rows)


def markdown(rows: list[dict], periods: list[int], args) -> str:
    keys = ["baseline", "opi", "ftbc"] + [f"bsnn P={p}" for p in periods]
    lines = [
        "Smallest T from which each preset stays within 1 % of the ANN (up to the largest T simulated):",
        "",
        "| model | ANN | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {100 * r['ann']:.1f} | " + " | ".join(r["within_1pct"][k] for k in keys) + " |")
    lines += [
        "",
        f"Spikes of inactivated neurons (ANN pre-activation ≤ 0) per sample at T = {args.sin_T}, and their share",
        f"of all spikes ({args.sin_samples} samples):",
        "",
        "| model | " + " | ".join(["opi"] + [f"bsnn P={p}" for p in periods]) + " |",
        "|---|" + "---|" * (1 + len(periods)),
    ]
    for r in rows:
        cells = [f"{s:.0f} ({100 * f:.1f} %)" for s, f in r["inactive_spikes"].values()]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    lines += ["", "BSNN accuracy (%) per T:", ""]
    for p in periods:
        steps = list(rows[0]["bsnn_accuracy"][p]) if rows else []
        lines += [f"period {p}:", "", "| model | " + " | ".join(f"T={t}" for t in steps) + " |"]
        lines.append("|---|" + "---|" * len(steps))
        for r in rows:
            lines.append(
                f"| {r['model']} | " + " | ".join(f"{100 * a:.1f}" for a in r["bsnn_accuracy"][p].values()) + " |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
