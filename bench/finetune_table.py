"""Accuracy of ``ftbc`` and of ``ftbc`` + fine-tuning (``eventsim.finetune``) at small T on every
bundled model: the conversion calibrated and the fine-tuning trained on the model's calibration
split, the accuracy measured on its test split (never used for either) in the engines.

    python bench/finetune_table.py [--models digits_mlp,...] [--steps 1,2,4,8] [--epochs 10]
                                   [--neurons] [--out docs/finetune]

``--neurons`` trains thresholds, initial potentials and temporal biases too.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _tables import write_table

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data


def run(model: str, steps: list[int], epochs: int, neurons: bool) -> tuple[str, list[dict]]:
    data = load_example_data(example_data_name(model))
    graph = eventsim.load_onnx(example_model_path(model))
    x, y, xt, yt = data["x_calib"], data["y_calib"], data["x_test"], data["y_test"]
    ann = float(np.mean(eventsim.run_ann(graph, xt).argmax(axis=1) == yt))
    rows = []
    for T in steps:
        net = eventsim.convert(graph, x, "ftbc", T=T)
        before = float(eventsim.simulate(net, xt, T).accuracy(yt)[-1])
        start = time.perf_counter()
        tuned = eventsim.finetune(net, x, y, T, thresholds=neurons, v0=neurons, temporal_bias=neurons, epochs=epochs)
        seconds = time.perf_counter() - start
        after = float(eventsim.simulate(tuned.net, xt, T).accuracy(yt)[-1])
        rows.append({"model": model, "T": T, "ann": ann, "ftbc": before, "finetuned": after, "seconds": seconds})
        print(f"{model} T={T}: ANN {ann:.2%} ftbc {before:.2%} fine-tuned {after:.2%} ({seconds:.1f} s)", flush=True)
    lines = [
        f"### {model} (ANN {100 * ann:.2f} %, {len(xt)} test samples, {len(x)} training samples)",
        "",
        "| | " + " | ".join(f"T={r['T']}" for r in rows) + " |",
        "|---|" + "---|" * len(rows),
        "| ftbc | " + " | ".join(f"{100 * r['ftbc']:.2f}" for r in rows) + " |",
        f"| ftbc + fine-tuning ({epochs} epochs) | " + " | ".join(f"{100 * r['finetuned']:.2f}" for r in rows) + " |",
        "| seconds of fine-tuning | " + " | ".join(f"{r['seconds']:.1f}" for r in rows) + " |",
        "",
    ]
    return "\n".join(lines), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(example_names()))
    parser.add_argument("--steps", default="1,2,4,8")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--neurons", action="store_true", help="train thresholds, v0 and temporal biases too")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    steps = [int(t) for t in args.steps.split(",")]
    texts, rows = [], []
    for model in args.models.split(","):
        text, found = run(model, steps, args.epochs, args.neurons)
        texts.append(text)
        rows += found
    text = "\n".join(texts)
    write_table(args.out, "finetune", text, rows)


if __name__ == "__main__":
    main()
