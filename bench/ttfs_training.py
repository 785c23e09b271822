"""TTFS networks trained from scratch (``eventsim.train_ttfs``: single-spike neurons, learned
temporal decoding, average pools) against the ``ttfs`` conversion of the bundled ANN at the same
number of steps: accuracy on the test split, spikes per neuron, energy per sample.

The trained network sees only the model's calibration split (300 digits, 500 MNIST images, with
``--copies`` shifted copies of it), while the ANN the conversion starts from was trained on the
whole training split (1,197 digits, 3,500 MNIST images): the table compares what a user gets from
each route with the data shipped here, not the two methods on equal data.

    python bench/ttfs_training.py [--models digits_mlp,digits_cnn,mnist_lenet] [--epochs 20]
                                  [--copies 2] [--out docs]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _tables import write_table

import eventsim
from eventsim.examples import example_data_name, example_model_path, load_example_data
from eventsim.training.augment import shift_images


def measured(net, x, y, T: int) -> dict:
    """Accuracy at T, spikes per neuron per sample and SNN energy per sample (default cost table)."""
    rec = eventsim.simulate(net, x, T)
    energy = eventsim.energy_report(net, rec)
    return {
        "accuracy": float(rec.accuracy(y)[-1]),
        "spikes_per_neuron": float(rec.spikes_per_sample.sum(axis=1).mean() / rec.neurons.sum()),
        "energy_nj": energy.snn.total_pj / 1000,
        "ann_over_snn": energy.ratio,
    }


def run(model: str, epochs: int, copies: int) -> tuple[str, dict]:
    data = load_example_data(example_data_name(model))
    graph = eventsim.load_onnx(example_model_path(model))
    x, y, xt, yt = data["x_calib"], data["y_calib"], data["x_test"], data["y_test"]
    converted = eventsim.convert(graph, x, "ttfs")
    T = converted.result_steps
    row = {"model": model, "T": T, "window": converted.meta["ttfs"]["window"], "epochs": epochs, "copies": copies}
    row["converted"] = measured(converted, xt, yt, T)
    train_x = np.concatenate([x] + [shift_images(x, 1, (7, k)) for k in range(copies)])
    train_y = np.concatenate([y] * (copies + 1))
    start = time.perf_counter()
    result = eventsim.train_ttfs(graph, train_x, train_y, T, epochs=epochs)
    row["seconds"] = time.perf_counter() - start
    row["trained"] = measured(result.net, xt, yt, T)
    row["train_accuracy"] = result.history[-1].train_accuracy
    c, t = row["converted"], row["trained"]
    took = f"{row['seconds']:.0f} s"
    print(f"{model} T={T}: converted {c['accuracy']:.2%}, trained {t['accuracy']:.2%} ({took})", flush=True)
    lines = [
        f"| {model} | {T} | ttfs conversion (window {row['window']}) | {100 * c['accuracy']:.2f} | "
        f"{c['spikes_per_neuron']:.3f} | {c['energy_nj']:.1f} | — |",
        f"| | | TTFS trained from scratch ({epochs} epochs, {len(train_x)} samples) | {100 * t['accuracy']:.2f} | "
        f"{t['spikes_per_neuron']:.3f} | {t['energy_nj']:.1f} | {row['seconds']:.0f} |",
    ]
    return "\n".join(lines), row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="digits_mlp,digits_cnn,mnist_lenet")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--copies", type=int, default=2, help="shifted copies (±1 pixel) of the training split")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    head = [
        "| model | T | network | test accuracy % | spikes per neuron | SNN energy nJ/sample | training s |",
        "|---|---|---|---|---|---|---|",
    ]
    texts, rows = [], []
    for model in args.models.split(","):
        text, row = run(model, args.epochs, args.copies)
        texts.append(text)
        rows.append(row)
    write_table(args.out, "ttfs_training", "\n".join(head + texts), rows)


if __name__ == "__main__":
    main()
