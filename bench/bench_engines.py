"""The step-major event engine, the layer-major engine and the dense reference, in one run, and the
event engines against the machine's ceiling.

Builds a VGG-style network (3x32x32: 64-64-pool-128-128-pool-256-256-pool-fc) and a LeNet-style
one (1x28x28) with random He-initialised weights, sets every layer's threshold to
mean(ANN activation) / target so that neurons fire at about 2, 5, 10, 20 and 40 % of steps, and
simulates T steps at batch 1 and batch 64 with the ``event`` (step-major), ``layer`` (layer-major)
and ``reference`` engines (the first two in turn, best of ``--repeats``). Prints per configuration:
images/s of each, the firing rate reached, the speed-ups layer/event and layer/reference, the engine
``auto`` picks, and the method the layer engine's cost model chose for each conv/dense node (E
events, D dense BLAS), all measured in this run. It also measures the ceiling for this work — a
minimal Numba loop adding C_out-wide weight rows at random positions of an L2-sized buffer, on all
cores — and prints the layer engine's synaptic events/s as a fraction of it, and the JIT start-up
costs.

    python bench/bench_engines.py [--T 32] [--models vgg,lenet] [--rates 0.02,0.05,0.1,0.2,0.4]
        [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
from numba import njit, prange

import eventsim
from eventsim import Graph, NeuronLayer, Node, SpikingNetwork


def conv(name, src, c_in, c_out, rng):
    w = rng.standard_normal((c_out, c_in, 3, 3)).astype(np.float32) * np.sqrt(2 / (9 * c_in))
    return Node(
        name,
        "conv",
        (src,),
        {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1},
        {"W": w, "b": np.zeros(c_out, np.float32)},
    )


def build(kind: str, rng) -> Graph:
    """The VGG-style or LeNet-style graph of the issue, random weights."""
    if kind == "vgg":
        shape, plan = (3, 32, 32), [64, 64, "pool", 128, 128, "pool", 256, 256, "pool"]
    else:
        shape, plan = (1, 28, 28), [6, "pool", 16, "pool"]
    nodes = [
        Node(
            "x", "input", (), {"source_shape": shape, "perm": (0, 1, 2)}, {"scale": np.ones(()), "shift": np.zeros(())}
        )
    ]
    c, hw, src = shape[0], shape[1], "x"
    for i, item in enumerate(plan):
        if item == "pool":
            nodes.append(
                Node(
                    f"pool{i}",
                    "maxpool",
                    (src,),
                    {"kernel": (2, 2), "stride": (2, 2), "pads": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False},
                )
            )
            hw //= 2
        else:
            nodes += [conv(f"conv{i}", src, c, item, rng), Node(f"relu{i}", "relu", (f"conv{i}",))]
            c = item
        src = nodes[-1].name
    nodes.append(Node("flat", "reshape", (src,), {"shape": (c * hw * hw,)}))
    if kind == "lenet":
        w = rng.standard_normal((120, c * hw * hw)).astype(np.float32) * np.sqrt(2 / (c * hw * hw))
        nodes += [Node("fc1", "dense", ("flat",), {}, {"W": w, "b": np.zeros(120)}), Node("relu_fc1", "relu", ("fc1",))]
        src, width = "relu_fc1", 120
    else:
        src, width = "flat", c * hw * hw
    w = rng.standard_normal((10, width)).astype(np.float32) * np.sqrt(1 / width)
    nodes.append(Node("out", "dense", (src,), {}, {"W": w, "b": np.zeros(10)}))
    return Graph(nodes, "out")


def network_at_rate(graph: Graph, x: np.ndarray, rate: float) -> SpikingNetwork:
    _, acts = eventsim.run_ann(graph, x, record=True)
    layers = {
        name: NeuronLayer(np.float32(max(values.mean(), 1e-6) / rate), np.float32(0)) for name, values in acts.items()
    }
    for name, layer in layers.items():
        layer.v0 = layer.threshold / 2
    return SpikingNetwork(graph, layers)


@njit(parallel=True, cache=True)
def _row_scatter(buffers, weights, rows, targets, a):
    """Ceiling: add weight rows (C_out wide, contiguous) at random rows of per-thread buffers."""
    threads, _, width = buffers.shape
    for t in prange(threads):
        buf = buffers[t]
        for e in range(rows.shape[1]):
            r = rows[t, e]
            g = targets[t, e]
            for o in range(width):
                buf[g, o] += a * weights[r, o]


def ceiling(width: int = 128) -> float:
    """Adds per second of the minimal row-scatter loop, all cores, L2-sized (256 KiB) buffers."""
    threads = numba.get_num_threads()
    rng = np.random.default_rng(0)
    positions = 256 * 1024 // (4 * width)
    buffers = np.zeros((threads, positions, width), np.float32)
    weights = rng.standard_normal((9 * width, width)).astype(np.float32)
    events = 400_000
    rows = rng.integers(0, 9 * width, (threads, events))
    targets = rng.integers(0, positions, (threads, events))
    _row_scatter(buffers, weights, rows[:, :10], targets[:, :10], np.float32(0.5))
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        _row_scatter(buffers, weights, rows, targets, np.float32(0.5))
        best = min(best, time.perf_counter() - start)
    return threads * events * width / best


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def startup_costs() -> tuple[float, float]:
    """Seconds of a first event simulation with an empty JIT cache, and with the cache filled."""
    code = (
        "import time,numpy as np,eventsim;from eventsim.examples import *;"
        "d=load_example_data();g=eventsim.load_onnx(example_model_path());n=eventsim.convert(g,d['x_calib']);"
        "t=time.perf_counter();eventsim.simulate(n,d['x_test'][:1],4);print(time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )
        warm = float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )
    return cold, warm


def methods(rec) -> str:
    """The layer engine's choice per conv/dense node: E (events), D (dense) or E/D (both, by chunk)."""
    marks = []
    for name, rows in rec.settings.get("rows_by_method", {}).items():
        marks.append("E/D" if rows["events"] and rows["dense"] else "E" if rows["events"] else "D")
    return " ".join(marks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=32)
    parser.add_argument("--models", default="vgg,lenet")
    parser.add_argument("--rates", default="0.02,0.05,0.1,0.2,0.4")
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the start-up measurement")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    top = ceiling()
    print(f"ceiling (row scatter, {numba.get_num_threads()} threads): {top / 1e9:.2f} x 1e9 adds/s")
    if not args.quick:
        cold, warm = startup_costs()
        print(f"first simulation incl. JIT compile: {cold:.1f} s; with the cache filled: {warm:.2f} s")
    print(
        f"{'model':6s} {'target':>6s} {'rate':>6s} {'batch':>5s} {'event/s':>9s} {'layer/s':>9s} {'ref/s':>8s} "
        f"{'layer/event':>11s} {'layer/ref':>9s} {'auto':>6s} {'of ceiling':>10s}  layer's method per node"
    )
    for model in args.models.split(","):
        graph = build(model, rng)
        data = rng.random((64,) + graph.input_shape, dtype=np.float32)
        for target in (float(r) for r in args.rates.split(",")):
            net = network_at_rate(graph, data[:16], target)
            for batch in (int(b) for b in args.batches.split(",")):
                x = data[:batch]
                seconds, recs = {"event": np.inf, "layer": np.inf}, {}
                for engine in ("event", "layer", "reference"):
                    eventsim.simulate(net, x[:1], 2, engine=engine)  # compile, calibrate, warm up
                # the two Numba engines in turn, best of --repeats (this machine's timings scatter);
                # the reference once
                for _ in range(args.repeats):
                    for engine in ("event", "layer"):
                        recs[engine], spent = timed(
                            lambda: eventsim.simulate(net, x, args.T, engine=engine, batch_size=batch)
                        )
                        seconds[engine] = min(seconds[engine], spent)
                recs["reference"], seconds["reference"] = timed(
                    lambda: eventsim.simulate(net, x, args.T, engine="reference", batch_size=batch)
                )
                picked = next(iter(eventsim.simulate(net, x, 1, batch_size=batch).settings["samples_by_engine"]))
                layer = recs["layer"]
                rate = layer.spikes_per_sample.sum() / (layer.neurons.sum() * args.T * batch)
                sops = layer.sops_per_sample.sum() / seconds["layer"]
                print(
                    f"{model:6s} {target:6.2f} {rate:6.3f} {batch:5d} {batch / seconds['event']:9.1f} "
                    f"{batch / seconds['layer']:9.1f} {batch / seconds['reference']:8.1f} "
                    f"{seconds['event'] / seconds['layer']:11.2f} {seconds['reference'] / seconds['layer']:9.2f} "
                    f"{picked:>6s} {sops / top:10.0%}  {methods(layer)}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
