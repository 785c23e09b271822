"""The trainer's step time: sparse (Numba) against dense (NumPy) backward, in one run.

The network is the 784-200-200-10 MLP of LIF neurons (β = e^(−1/10), θ = 1, reset by subtraction;
the output layer is the non-spiking sum over the steps), T = 100 steps, batch 256, on the bundled
MNIST calibration images, freshly initialised (``init="random"`` and :func:`scale_to_fire` on the
first batch, as ``eventsim.train`` does). Two settings:

- ``latency``: latency-coded input and LocalZO (δ = 0.05, m = 1, normal z): the sparse-gradient
  setting, where only entries within a few δ of threshold are active;
- ``direct``: direct (analog) input and the fast-sigmoid surrogate (width 0.5): every entry is active.

For each setting the two backwards train their own copy of the same network on the same sequence of
batches, step by step in turn (the order alternating), so that both see the same machine state;
the steps are real (Adam updates the weights). After one warm-up step, the median of ``--repeats``
steps is printed: forward, backward (with the optimiser step) and whole-step seconds, the active
fraction (the estimator's dS/du ≠ 0) overall and per layer, and the ratios dense/sparse. For LocalZO
the dense backward's time includes drawing z for every entry in NumPy, which is timed apart too.

``--steps N`` then trains the sparse copy N more steps (at ``--steps-lr``, a rate at which it learns)
and prints how the loss and the active fraction move (settings with a bounded estimator only: with
the fast sigmoid every entry is always active).

    python bench/bench_training.py [--T 100] [--batch 256] [--repeats 5] [--settings latency,direct]
        [--lr 2e-4] [--steps 0] [--steps-lr 5e-3]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import numba
import numpy as np

from eventsim import Graph, Node
from eventsim.examples import load_example_data
from eventsim.training import parse_estimator
from eventsim.training.forward import forward
from eventsim.training.optimizers import Optimizer
from eventsim.training.prepare import scale_to_fire, training_network
from eventsim.training.trainer import TrainSettings, TrainState, train_step
from eventsim.training.twins import estimates

#: β of the LIF layers: a membrane time constant of 10 steps.
LEAK = float(np.exp(-0.1))

#: The settings: input coding and gradient estimator.
SETTINGS = {
    "latency": ("latency", "localzo:delta=0.05,m=1,dist=normal,seed=0"),
    "direct": ("direct", "fast_sigmoid:width=0.5"),
}


def input_node(shape: tuple[int, ...]) -> Node:
    return Node(
        "x",
        "input",
        (),
        {"source_shape": shape, "perm": tuple(range(len(shape)))},
        {"scale": np.ones(()), "shift": np.zeros(())},
    )


def dense(name: str, src: str, n_in: int, n_out: int) -> Node:
    """A dense node with zero weights (the trainer draws them with ``init="random"``)."""
    params = {"W": np.zeros((n_out, n_in), np.float32), "b": np.zeros(n_out, np.float32)}
    return Node(name, "dense", (src,), {}, params)


def mlp_graph(sizes: tuple[int, ...], shape: tuple[int, ...]) -> Graph:
    """Flatten, then dense layers of ``sizes`` with a neuron layer (``lif1``, ...) after every one
    but the last (``out``)."""
    nodes = [input_node(shape), Node("flat", "reshape", ("x",), {"shape": (sizes[0],)})]
    src = "flat"
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        name = "out" if last else f"fc{i + 1}"
        nodes.append(dense(name, src, n_in, n_out))
        src = name
        if not last:
            nodes.append(Node(f"lif{i + 1}", "relu", (name,)))
            src = f"lif{i + 1}"
    return Graph(nodes, "out")


def mnist_mlp() -> Graph:
    """The 784-200-200-10 MLP on (1, 28, 28) images."""
    return mlp_graph((784, 200, 200, 10), (1, 28, 28))


def fresh_network(graph: Graph, x: np.ndarray, T: int, encoding: str, seed: int = 0):
    """The LIF network of ``graph`` with random weights rescaled on ``x`` so its neurons fire."""
    net = training_network(graph, kind="lif", leak=LEAK, reset="subtract", threshold=1.0, init="random", seed=seed)
    scale_to_fire(net, x, T, encoding)
    return net


def batches(n_data: int, batch: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` index arrays of ``batch`` samples (without replacement within a batch)."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n_data, batch, replace=batch > n_data) for _ in range(count)]


def active_by_layer(stats: dict) -> dict[str, float]:
    return {name: stats["active"][name] / stats["entries"][name] for name in sorted(stats["active"])}


def active_overall(stats: dict) -> float:
    return sum(stats["active"].values()) / sum(stats["entries"].values())


def median_by_layer(steps: list[dict]) -> dict[str, float]:
    layers = active_by_layer(steps[0])
    return {layer: statistics.median(active_by_layer(s)[layer] for s in steps) for layer in layers}


def dense_estimator_seconds(net, x: np.ndarray, T: int, encoding: str, estimator, repeats: int) -> float:
    """Median seconds of the dense backward's G(u) on every entry of every layer (for LocalZO: the
    NumPy draws of z), on one batch."""
    tape = forward(net, x, T, estimator, encoding=encoding, sparse=False, noise_seed=1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for trace in tape.layers.values():
            estimates(estimator, trace.u, tape.noise_seed, trace.index)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_setting(name: str, x, y, args) -> dict:
    """Both backwards on one setting (module docstring); returns the medians and the activity."""
    encoding, spec = SETTINGS[name]
    estimator = parse_estimator(spec)
    base = fresh_network(mnist_mlp(), x[: args.batch], args.T, encoding)
    states = {
        bw: TrainState(
            copy.deepcopy(base), Optimizer("adam", args.lr), TrainSettings(args.T, encoding, backward=bw), estimator
        )
        for bw in ("sparse", "dense")
    }
    times = {bw: {"forward": [], "backward": [], "step": []} for bw in states}
    activity = {bw: [] for bw in states}
    for k, idx in enumerate(batches(len(x), args.batch, 1 + args.repeats)):
        order = ("sparse", "dense") if k % 2 == 0 else ("dense", "sparse")
        for bw in order:
            t0 = time.perf_counter()
            stats = train_step(states[bw], x[idx], y[idx], epoch=0, batch=k)
            whole = time.perf_counter() - t0
            if k == 0:
                continue  # warm-up: JIT, capacities, the optimiser's first allocation
            times[bw]["forward"].append(stats["forward"])
            times[bw]["backward"].append(stats["backward"])
            times[bw]["step"].append(whole)
            activity[bw].append(stats)
    result = {
        "setting": name,
        "encoding": encoding,
        "estimator": spec,
        "states": states,
        "median": {bw: {key: statistics.median(v) for key, v in times[bw].items()} for bw in states},
        "active": {bw: statistics.median(active_overall(s) for s in activity[bw]) for bw in states},
        "by_layer": {bw: median_by_layer(activity[bw]) for bw in states},
    }
    if estimator.stochastic:
        idx = batches(len(x), args.batch, 1, seed=1)[0]
        result["draws"] = dense_estimator_seconds(
            states["dense"].net, x[idx], args.T, encoding, estimator, max(3, args.repeats // 2)
        )
    return result


def print_table(results: list[dict], args, load: tuple[float, float]) -> None:
    print(
        f"\nTraining step of the 784-200-200-10 LIF MLP, T = {args.T}, batch {args.batch}, MNIST calib, Adam lr"
        f" {args.lr:g}; median of {args.repeats} steps after 1 warm-up; {numba.get_num_threads()} Numba threads;"
        f" load average {load[0]:.1f} → {load[1]:.1f}"
    )
    head = (
        f"{'setting':<9} {'estimator':<22} {'backward':<8} {'forward s':>9} {'backward s':>10} {'step s':>8}"
        f" {'active':>8}  per layer"
    )
    print(head)
    print("-" * (len(head) + 24))
    for r in results:
        est = r["estimator"].split(",")[0]
        for bw in ("sparse", "dense"):
            m = r["median"][bw]
            layers = " ".join(f"{layer} {100 * v:.2f}%" for layer, v in r["by_layer"][bw].items())
            print(
                f"{r['setting']:<9} {est:<22} {bw:<8} {m['forward']:>9.3f} {m['backward']:>10.3f} {m['step']:>8.3f}"
                f" {100 * r['active'][bw]:>7.2f}%  {layers}"
            )
    print("\nratios dense/sparse (> 1: the sparse backward is faster)")
    print(f"{'setting':<9} {'forward':>8} {'backward':>9} {'step':>7}")
    for r in results:
        s, d = r["median"]["sparse"], r["median"]["dense"]
        print(
            f"{r['setting']:<9} {d['forward'] / s['forward']:>8.2f} {d['backward'] / s['backward']:>9.2f}"
            f" {d['step'] / s['step']:>7.2f}"
        )
    for r in results:
        if "draws" in r:
            share = r["draws"] / r["median"]["dense"]["backward"]
            print(
                f"\n{r['setting']}: of the dense backward's {r['median']['dense']['backward']:.3f} s, "
                f"{r['draws']:.3f} s ({100 * share:.0f}%) is LocalZO's G(u) on all T·N·n entries in NumPy "
                "(twins.estimates); the rest is the BPTT itself"
            )


def more_steps(result: dict, x, y, args) -> None:
    """Train the sparse copy ``args.steps`` more steps; print loss and activity along the way."""
    state = result["states"]["sparse"]
    if not np.isfinite(state.estimator.band()):
        print(f"\n{result['setting']} ({result['estimator']}): every entry is active in every step, no --steps run")
        return
    every = max(1, args.steps // 8)
    what = f"{result['setting']} ({result['estimator']}), sparse backward"
    print(f"\n{what}, {args.steps} more steps at lr {args.steps_lr:g}")
    print(f"{'step':>5} {'loss':>7} {'train acc':>9} {'active':>8}  per layer")
    start = 1 + args.repeats
    state.optimizer.lr = args.steps_lr
    for k, idx in enumerate(batches(len(x), args.batch, args.steps, seed=2)):
        stats = train_step(state, x[idx], y[idx], epoch=1, batch=k)
        if k % every == 0 or k == args.steps - 1:
            layers = " ".join(f"{layer} {100 * v:.2f}%" for layer, v in active_by_layer(stats).items())
            print(
                f"{start + k + 1:>5} {stats['loss']:>7.4f} {100 * stats['correct'] / len(idx):>8.1f}%"
                f" {100 * active_overall(stats):>7.2f}%  {layers}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per backward (after 1 warm-up)")
    parser.add_argument("--settings", default="latency,direct", help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate")
    parser.add_argument("--steps", type=int, default=0, help="then train the sparse copy this many more steps")
    parser.add_argument("--steps-lr", type=float, default=5e-3, help="Adam's learning rate in those steps")
    args = parser.parse_args()
    data = load_example_data("mnist")
    x, y = data["x_calib"], data["y_calib"]
    load0 = os.getloadavg()[0]
    results = []
    for name in args.settings.split(","):
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; use {', '.join(SETTINGS)}")
        results.append(time_setting(name, x, y, args))
    print_table(results, args, (load0, os.getloadavg()[0]))
    if args.steps > 0:
        for r in results:
            more_steps(r, x, y, args)


if __name__ == "__main__":
    main()
