"""Test accuracy of every conversion preset at T = 1..128 on every bundled model.

For each model in eventsim/data: import, then for each preset convert with the model's
calibration split and simulate its test split once (accuracy at every step from one run; the
OPI-optimised preset is calibrated and simulated per T). Prints a markdown table per model with
the ANN's accuracy beside it, and the smallest T at which each preset comes within 1 % of the ANN;
``--out`` writes the same as markdown and JSON.

    python bench/accuracy_table.py [--models mnist_qcfs,digits_cnn] [--steps 1,2,4,...] [--presets ...]
                                   [--samples N] [--out docs/accuracy]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data
from eventsim.measure.compare import compare, steps_to_reach

#: opi-opt is calibrated and simulated once per T, which is slow; add it with --presets.
PRESETS = ["baseline", "robust", "opi", "ftbc"]


def within(table: dict, preset: str, margin: float = 0.01) -> str:
    """The smallest T from which the accuracy stays within ``margin`` of the ANN's, or '>' the largest T."""
    found = steps_to_reach(table, preset, margin)
    return f">{table['steps'][-1]}" if found is None else str(found)


def markdown(name: str, table: dict, seconds: float) -> str:
    steps = table["steps"]
    lines = [
        f"### {name} (ANN {100 * table['ann_accuracy']:.2f} %, {table['samples']} test samples)",
        "",
        "| preset | " + " | ".join(f"T={t}" for t in steps) + " | within 1 % of the ANN from T | spikes/sample |",
        "|---|" + "---|" * (len(steps) + 2),
    ]
    for preset, row in table["presets"].items():
        cells = " | ".join(f"{100 * a:.2f}" for a in row["accuracy"])
        lines.append(f"| {preset} | {cells} | {within(table, preset)} | {row['spikes_per_sample']:.0f} |")
    lines.append(f"\n({seconds:.0f} s)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(example_names()))
    parser.add_argument("--steps", default="1,2,4,8,16,32,64,128")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--samples", type=int, help="use the first N test samples only")
    parser.add_argument("--out", type=Path, help="folder for accuracy_table.md and accuracy_table.json")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    sections, results = [], {}
    for name in args.models.split(","):
        graph = eventsim.load_onnx(example_model_path(name))
        data = load_example_data(example_data_name(name))
        presets = args.presets.split(",")
        presets += ["qcfs"] if all(n.op == "qcfs" for n in graph.activation_nodes()) else []
        x, y = data["x_test"][: args.samples], data["y_test"][: args.samples]
        start = time.perf_counter()
        table = compare(graph, data["x_calib"], x, y, presets, steps)
        seconds = time.perf_counter() - start
        results[name] = table
        sections.append(markdown(name, table, seconds))
        print(sections[-1], "\n", flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "accuracy_table_" + "_".join(results) if len(results) < len(example_names()) else "accuracy_table"
        (args.out / f"{stem}.md").write_text("\n\n".join(sections) + "\n")
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
