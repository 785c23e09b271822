"""Train from scratch with ``eventsim.train`` and report test accuracy, activity and time per epoch.

Every run trains on the bundled calibration split and is tested on the test split in the engines
(``eventsim.simulate`` at the training T and encoding: the accuracy at step T), from a random
initialisation rescaled so that its neurons fire (``init="random"``). LIF neurons throughout
(β = e^(−1/10), θ = 1, reset by subtraction), Adam, the ``sum`` loss, the sparse backward.

- ``mlp-localzo``: the 784-200-200-10 MLP on MNIST (500 training images), latency input, T = 50,
  LocalZO (δ = 0.05, m = 1, normal z);
- ``mlp-gaussian``: the same with the deterministic surrogate LocalZO-normal has as its expectation,
  a Gaussian of width δ (``gaussian:width=0.05``): accuracy should agree within the seed-to-seed
  noise, while far fewer entries are active with LocalZO (the Gaussian's dS/du is zero only where
  it underflows float32, |u| ≳ 13.6 δ);
- ``conv``: conv 1→8 3×3 pad 1, LIF, avgpool 2, conv 8→16 3×3 pad 1, LIF, avgpool 2, flatten,
  dense →10 on MNIST, direct input, T = 8, LocalZO;
- ``digits``: a 64-100-10 MLP on the 8×8 digits (300 training images), latency input, T = 50, LocalZO.

Each run is repeated over ``--seeds`` (sample order, initialisation and the estimator's draws); the
table gives the mean and spread of the test accuracy, the last epoch's training accuracy and active
fraction, and the median seconds per epoch (training only, forward and backward apart).

    python bench/bench_train_accuracy.py [--runs all] [--seeds 0,1,2] [--epochs N] [--quick]
        [--mlp-T 50] [--conv-T 8] [--digits-T 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import eventsim
from eventsim import Graph, Node
from eventsim.examples import load_example_data

sys.path.insert(0, str(Path(__file__).parent))
from bench_training import LEAK, dense, input_node, mlp_graph  # noqa: E402


def conv(name: str, src: str, c_in: int, c_out: int) -> Node:
    """A 3×3 convolution, padding 1, zero weights (drawn by the trainer)."""
    params = {"W": np.zeros((c_out, c_in, 3, 3), np.float32), "b": np.zeros(c_out, np.float32)}
    attrs = {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    return Node(name, "conv", (src,), attrs, params)


def avgpool(name: str, src: str) -> Node:
    attrs = {
        "kernel": (2, 2),
        "stride": (2, 2),
        "pads": (0, 0, 0, 0),
        "dilation": (1, 1),
        "ceil_mode": False,
        "count_include_pad": False,
    }
    return Node(name, "avgpool", (src,), attrs)


def conv_graph() -> Graph:
    """conv 1→8, LIF, avgpool, conv 8→16, LIF, avgpool, flatten, dense →10 on (1, 28, 28)."""
    nodes = [
        input_node((1, 28, 28)),
        conv("conv1", "x", 1, 8),
        Node("lif1", "relu", ("conv1",)),
        avgpool("pool1", "lif1"),
        conv("conv2", "pool1", 8, 16),
        Node("lif2", "relu", ("conv2",)),
        avgpool("pool2", "lif2"),
        Node("flat", "reshape", ("pool2",), {"shape": (16 * 7 * 7,)}),
        dense("out", "flat", 16 * 7 * 7, 10),
    ]
    return Graph(nodes, "out")


@dataclass
class Run:
    name: str
    data: str
    graph: object  # () -> Graph
    encoding: str
    T: int
    estimator: str  # without the seed; LocalZO gets ",seed=S"
    lr: float
    batch: int
    epochs: int


def runs(args) -> list[Run]:
    lzo = "localzo:delta=0.05,m=1,dist=normal"
    mnist_mlp = lambda: mlp_graph((784, 200, 200, 10), (1, 28, 28))  # noqa: E731
    digits_mlp = lambda: mlp_graph((64, 100, 10), (1, 8, 8))  # noqa: E731
    return [
        Run("mlp-localzo", "mnist", mnist_mlp, "latency", args.mlp_T, lzo, 5e-3, 32, 20),
        Run("mlp-gaussian", "mnist", mnist_mlp, "latency", args.mlp_T, "gaussian:width=0.05", 5e-3, 32, 20),
        Run("conv", "mnist", conv_graph, "direct", args.conv_T, lzo, 1e-2, 32, 15),
        Run("digits", "digits", digits_mlp, "latency", args.digits_T, lzo, 1e-2, 16, 40),
    ]


def estimator_spec(run: Run, seed: int) -> str:
    return f"{run.estimator},seed={seed}" if run.estimator.startswith("localzo") else run.estimator


def train_once(run: Run, data: dict, seed: int, epochs: int, n_train: int | None, n_test: int | None) -> dict:
    x, y = data["x_calib"][:n_train], data["y_calib"][:n_train]
    xt, yt = data["x_test"][:n_test], data["y_test"][:n_test]
    t0 = time.perf_counter()
    result = eventsim.train(
        run.graph(), x, y, run.T, encoding=run.encoding, estimator=estimator_spec(run, seed), epochs=epochs,
        batch_size=run.batch, optimizer="adam", lr=run.lr, kind="lif", leak=LEAK, reset="subtract",
        threshold=1.0, init="random", seed=seed, backward="sparse",
    )  # fmt: skip
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    test = float(eventsim.simulate(result.net, xt, run.T, encoding=run.encoding).accuracy(yt)[-1])
    test_s = time.perf_counter() - t0
    h = result.history
    return {
        "test": test,
        "train": h[-1].train_accuracy,
        "loss": h[-1].loss,
        "active": h[-1].active_fraction,
        "by_layer": h[-1].active_by_layer,
        "epoch_s": statistics.median(r.seconds for r in h),
        "forward_s": statistics.median(r.forward_seconds for r in h),
        "backward_s": statistics.median(r.backward_seconds for r in h),
        "wall": wall,
        "test_s": test_s,
        "max_epoch_s": max(r.seconds for r in h),
    }


def label(run: Run) -> str:
    """The estimator, short: its name and the parameters the run sets (not the seed)."""
    name, _, rest = run.estimator.partition(":")
    return f"{name}:{rest.replace('delta', 'δ').replace('width', 'w').replace(',dist=normal', '')}"


def summary_row(run: Run, outs: list[dict], epochs: int, n_train: int) -> str:
    tests = [100 * o["test"] for o in outs]
    median = lambda key: statistics.median(o[key] for o in outs)  # noqa: E731
    spread = f"± {statistics.stdev(tests):4.1f}" if len(tests) > 1 else "      "
    layers = " ".join(
        f"{k} {100 * statistics.mean(o['by_layer'][k] for o in outs):.2f}%" for k in sorted(outs[0]["by_layer"])
    )
    return (
        f"{run.name:<13} {run.data:<6} {n_train:>5} {run.encoding:<7} {run.T:>3} {label(run):<24}"
        f" {run.lr:>6g} {run.batch:>5} {epochs:>6}"
        f" {statistics.mean(tests):>6.1f}% {spread} {' '.join(f'{t:.1f}' for t in tests):<16}"
        f" {100 * statistics.mean(o['train'] for o in outs):>6.1f}%"
        f" {100 * statistics.mean(o['active'] for o in outs):>7.2f}%"
        f" {median('epoch_s'):>7.2f} {median('forward_s'):>6.2f} {median('backward_s'):>6.2f}  {layers}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="all", help="comma list of mlp-localzo, mlp-gaussian, conv, digits")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds; each run is repeated over them")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every run (default: per run)")
    parser.add_argument("--lr", type=float, default=None, help="Adam's learning rate of every run (default: per run)")
    parser.add_argument("--mlp-T", type=int, default=50)
    parser.add_argument("--conv-T", type=int, default=8)
    parser.add_argument("--digits-T", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, 128 training and 200 test samples")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        seeds, n_train, n_test = seeds[:1], 128, 200
    else:
        n_train = n_test = None
    chosen = runs(args)
    if args.runs != "all":
        names = args.runs.split(",")
        unknown = set(names) - {r.name for r in chosen}
        if unknown:
            parser.error(f"unknown runs {', '.join(sorted(unknown))}")
        chosen = [r for r in chosen if r.name in names]
    for run in chosen:
        run.lr = args.lr or run.lr
    data = {name: load_example_data(name) for name in {r.data for r in chosen}}
    load0 = os.getloadavg()[0]
    rows, results = [], {name: [] for name in data}
    for run in chosen:
        epochs = 1 if args.quick else args.epochs or run.epochs
        outs = []
        for seed in seeds:
            out = train_once(run, data[run.data], seed, epochs, n_train, n_test)
            print(
                f"  {run.name} seed {seed}: test {100 * out['test']:.1f}% train {100 * out['train']:.1f}%"
                f" active {100 * out['active']:.2f}%; train {out['wall']:.1f}s (slowest epoch"
                f" {out['max_epoch_s']:.2f}s), test {out['test_s']:.1f}s",
                flush=True,
            )
            outs.append(out)
            results[run.data].append(out)
        size = len(data[run.data]["x_calib"][:n_train])
        rows.append(summary_row(run, outs, epochs, size))
    print(
        f"\nTrained from scratch (LIF β = e^(-1/10), θ = 1, subtract reset; Adam; sum loss; sparse backward),"
        f" tested in the engines at step T; seeds {','.join(map(str, seeds))}; load average"
        f" {load0:.1f} → {os.getloadavg()[0]:.1f}"
    )
    head = (
        f"{'run':<13} {'data':<6} {'train':>5} {'input':<7} {'T':>3} {'estimator':<24} {'lr':>6} {'batch':>5}"
        f" {'epochs':>6} {'test acc':>15} {'per seed':<16} {'train':>7} {'active':>8} {'s/epoch':>7}"
        f" {'fwd s':>6} {'bwd s':>6}  active by layer"
    )
    print(head)
    print("-" * (len(head) + 20))
    for row in rows:
        print(row)
    errors = []
    for name in sorted(data):
        n, p = len(data[name]["x_test"][:n_test]), statistics.mean(o["test"] for o in results[name])
        errors.append(f"{name} ±{100 * (p * (1 - p) / n) ** 0.5:.1f} pt ({n} test images)")
    print(f"sampling error of one test accuracy (binomial, at the mean accuracy): {', '.join(errors)}")


if __name__ == "__main__":
    main()
