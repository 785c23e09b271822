"""Test accuracy of the ``auto`` preset against the fixed presets at T = 1..32 on every bundled model.

For each model in eventsim/data and each T: ``auto`` chooses its recipe on a held-out part of the
model's calibration split (with the calibration labels, unless ``--no-labels``), is calibrated
with it on the whole split and simulated at T on the test split; the fixed presets (default
baseline, robust, opi, ftbc) are converted once for the largest T and simulated once
(:func:`eventsim.measure.compare.compare`). Prints a markdown table per model: accuracy per T of
``auto`` and each fixed preset, the best fixed preset, ``auto``'s choice and its seconds per T;
``--out`` writes it as markdown and JSON too.

    python bench/auto_table.py [--models digits_cnn,...] [--steps 1,2,4,8,16,32] [--presets ...]
                               [--no-labels] [--out docs/accuracy]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _tables import write_table

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data
from eventsim.measure.compare import compare

FIXED = ["baseline", "robust", "opi", "ftbc"]


def auto_runs(graph, data: dict, steps: list[int], labels: bool) -> list[dict]:
    """``auto`` at each T: test accuracy at T, the chosen candidate, seconds of the conversion."""
    runs = []
    for T in steps:
        start = time.perf_counter()
        calib_y = data["y_calib"] if labels else None
        net = eventsim.convert(graph, data["x_calib"], "auto", T=T, calib_y=calib_y)
        seconds = time.perf_counter() - start
        rec = eventsim.simulate(net, data["x_test"], T)
        record = net.meta["auto"]
        runs.append(
            {
                "T": T,
                "accuracy": float(rec.accuracy(data["y_test"])[-1]),
                "choice": record["chosen_name"],
                "seconds": seconds,
                "candidates": len(record["candidates"]),
                "holdout": record["holdout_samples"],
            }
        )
        print(f"  auto T={T}: {runs[-1]['accuracy']:.4f} ({runs[-1]['choice']}, {seconds:.1f} s)", flush=True)
    return runs


def markdown(name: str, row: dict) -> str:
    """One model's section: accuracy per T of every row, auto's choice and seconds."""
    steps, table = row["steps"], row["fixed"]
    best = [max(table["presets"][p]["accuracy"][i] for p in table["presets"]) for i in range(len(steps))]
    lines = [
        f"### {name} (ANN {100 * table['ann_accuracy']:.2f} %, {table['samples']} test samples)",
        "",
        "| | " + " | ".join(f"T={t}" for t in steps) + " |",
        "|---|" + "---|" * len(steps),
        "| **auto** | " + " | ".join(f"**{100 * r['accuracy']:.2f}**" for r in row["auto"]) + " |",
    ]
    for preset, values in table["presets"].items():
        lines.append(f"| {preset} | " + " | ".join(f"{100 * a:.2f}" for a in values["accuracy"]) + " |")
    lines.append("| best fixed | " + " | ".join(f"{100 * a:.2f}" for a in best) + " |")
    gaps = [100 * (r["accuracy"] - b) for r, b in zip(row["auto"], best)]
    lines.append("| auto − best fixed (points) | " + " | ".join(f"{g:+.2f}" for g in gaps) + " |")
    # a choice such as "bound|max" holds a pipe, which would split the markdown cell
    lines.append("| auto's choice | " + " | ".join(r["choice"].replace("|", "\\|") for r in row["auto"]) + " |")
    lines.append("| auto seconds | " + " | ".join(f"{r['seconds']:.1f}" for r in row["auto"]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(example_names()))
    parser.add_argument("--steps", default="1,2,4,8,16,32")
    parser.add_argument("--presets", default=",".join(FIXED), help="the fixed presets to compare with")
    parser.add_argument("--no-labels", action="store_true", help="auto chooses by agreement with the ANN alone")
    parser.add_argument("--out", type=Path, help="folder for auto_table.md and auto_table.json")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    sections, rows = [], []
    for name in args.models.split(","):
        print(name, flush=True)
        graph = eventsim.load_onnx(example_model_path(name))
        data = load_example_data(example_data_name(name))
        table = compare(graph, data["x_calib"], data["x_test"], data["y_test"], args.presets.split(","), steps)
        row = {"model": name, "steps": steps, "fixed": table, "auto": auto_runs(graph, data, steps, not args.no_labels)}
        rows.append(row)
        sections.append(markdown(name, row))
    labels = "by accuracy on the held-out calibration labels" if not args.no_labels else "by agreement (no labels)"
    head = f"auto chose {labels}; test accuracy in % at step T; seconds: auto's search and final conversion."
    write_table(args.out, "auto_table", head + "\n\n" + "\n\n".join(sections), _jsonable(rows))


def _jsonable(rows: list[dict]) -> list[dict]:
    """The rows without NumPy scalars."""
    import json

    return json.loads(json.dumps(rows, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


if __name__ == "__main__":
    main()
