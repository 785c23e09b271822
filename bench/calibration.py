"""Calibration time of OPI (optimised v0) and FTBC: the one-pass, layer-major calibration of
eventsim (``eventsim.convert``) against the step-by-step calibration it replaced (every layer's
currents from a fresh run of the layers before it, tests/stepwise_calibration.py), in the same run,
with identical results checked.

Models: the bundled ones (their calibration split), a depthwise-separable CNN with 7 activation
layers (1x28x28; depthwise 3x3 convs, a ceil-mode max pool, a global average pool; random weights,
8,748 parameters) and a VGG-style network with 13 conv layers (3x32x32, VGG-16's convs; random
weights) on random inputs. The VGG's step-by-step baseline is measured on one batch of
``--vgg-batch`` samples (hours otherwise); its one-pass FTBC also runs with FTBC's defaults
(3 batches of 200) at T = 32.

    python bench/calibration.py [--models mnist_lenet,mnist_resnet,depthwise,vgg13] [-T 32]
                                [--samples 200] [--vgg-batch 16] [--out docs]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
from _tables import write_table

import eventsim
from eventsim import Graph, Node
from eventsim.conversion.ftbc import calibrate_ftbc
from eventsim.conversion.opi import optimize_v0
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stepwise_calibration import stepwise_ftbc, stepwise_opi  # noqa: E402


def conv(name, src, c_in, c_out, rng, k=3, groups=1, pad=1) -> Node:
    fan_in = k * k * c_in // groups
    w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(np.float32) * np.sqrt(2 / fan_in)
    attrs = {"stride": (1, 1), "pads": (pad,) * 4, "dilation": (1, 1), "groups": groups}
    return Node(name, "conv", (src,), attrs, {"W": w, "b": np.full(c_out, 0.01, np.float32)})


def pool(name, src, op="maxpool", kernel=2, ceil=False) -> Node:
    attrs = {"kernel": (kernel,) * 2, "stride": (kernel,) * 2, "pads": (0,) * 4, "dilation": (1, 1), "ceil_mode": ceil}
    if op == "avgpool":
        attrs["count_include_pad"] = False
    return Node(name, op, (src,), attrs)


def build(kind: str, rng) -> Graph:
    """The depthwise-separable CNN or the VGG-style network (module docstring), random weights."""
    shape = (1, 28, 28) if kind == "depthwise" else (3, 32, 32)
    unit = {"scale": np.ones(()), "shift": np.zeros(())}
    nodes = [Node("x", "input", (), {"source_shape": shape, "perm": (0, 1, 2)}, unit)]
    if kind == "depthwise":  # (channels out, groups, kernel) per conv; "pool": ceil-mode max pool
        plan = [(16, 1, 3), (16, 16, 3), (32, 1, 1), "pool", (32, 32, 3), (64, 1, 1), (64, 64, 3), (64, 1, 1)]
    else:
        plan = [64, 64, "pool", 128, 128, "pool", 256, 256, 256, "pool", 512, 512, 512, "pool", 512, 512, 512]
        plan = [item if item == "pool" else (item, 1, 3) for item in plan]
    c, hw = shape[0], shape[1]
    for i, item in enumerate(plan):
        src = nodes[-1].name
        if item == "pool":
            nodes.append(pool(f"pool{i}", src, ceil=kind == "depthwise"))
            hw = -(-hw // 2)
            continue
        c_out, groups, k = item
        nodes += [conv(f"conv{i}", src, c, c_out, rng, k, groups, k // 2), Node(f"relu{i}", "relu", (f"conv{i}",))]
        c = c_out
    nodes.append(pool("gap", nodes[-1].name, "avgpool", hw))
    nodes.append(Node("flat", "reshape", ("gap",), {"shape": (c,)}))
    w = rng.standard_normal((10, c)).astype(np.float32) * np.sqrt(1 / c)
    nodes.append(Node("out", "dense", ("flat",), {}, {"W": w, "b": np.zeros(10, np.float32)}))
    return Graph(nodes, "out")


def model_and_data(name: str, samples: int):
    if name in example_names():
        return eventsim.load_onnx(example_model_path(name)), load_example_data(example_data_name(name))["x_calib"]
    rng = np.random.default_rng(0)
    graph = build(name, rng)
    if name == "depthwise":
        return graph, load_example_data("mnist")["x_calib"][:samples]
    return graph, rng.random((samples,) + graph.input_shape, dtype=np.float32)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare_ftbc(graph, x, T: int, batch_size: int) -> dict:
    """FTBC one pass vs step by step on copies of the same network (the preset's thresholds and v0):
    the calibration alone is timed, not the thresholds both share."""
    base = eventsim.convert(graph, x, "opi", T=T)
    fast, slow = copy.deepcopy(base), copy.deepcopy(base)
    one = timed(lambda: calibrate_ftbc(fast, x, T, batch_size=batch_size))
    step = timed(lambda: stepwise_ftbc(slow, x, T, batch_size=batch_size))
    same = all(np.array_equal(fast.layers[k].temporal_bias, slow.layers[k].temporal_bias) for k in base.layers)
    return {"one_pass": one, "stepwise": step, "identical": same}


def compare_opi(graph, x, T: int) -> dict:
    """OPI's optimised v0, one pass vs step by step, on copies of the same network."""
    base = eventsim.convert(graph, x, "opi", T=T)
    fast, slow = copy.deepcopy(base), copy.deepcopy(base)
    one = timed(lambda: optimize_v0(fast, x, T))
    step = timed(lambda: stepwise_opi(slow, x, T))
    same = all(np.allclose(fast.layers[k].v0, slow.layers[k].v0, rtol=0, atol=1e-6) for k in base.layers)
    return {"one_pass": one, "stepwise": step, "identical": same}


def run(name: str, T: int, samples: int, vgg_batch: int) -> list[str]:
    graph, x = model_and_data(name, samples)
    for preset in ("ftbc", "opi-opt"):  # load the compiled kernels before anything is timed
        eventsim.convert(graph, x[:4], preset, T=2, opi_samples=4)
    layers = len(graph.activation_nodes())
    rows = []
    if name == "vgg13":
        x = x[:vgg_batch]
        r = compare_ftbc(graph, x, T, vgg_batch)
        rows.append((f"FTBC, 1 batch of {vgg_batch}", r))
        full = np.random.default_rng(1).random((600,) + graph.input_shape, dtype=np.float32)
        seconds = timed(lambda: eventsim.convert(graph, full, "ftbc", T=T))
        rows.append(("FTBC, 3 batches of 200", {"one_pass": seconds, "stepwise": None, "identical": None}))
    else:
        x = x[:samples]
        rows.append((f"FTBC, {len(x)} samples in batches of 200", compare_ftbc(graph, x, T, 200)))
        rows.append((f"OPI v0, {len(x)} samples", compare_opi(graph, x, T)))
    lines = []
    for what, r in rows:
        step = "—" if r["stepwise"] is None else f"{r['stepwise']:.1f}"
        ratio = "—" if r["stepwise"] is None else f"{r['stepwise'] / r['one_pass']:.1f}×"
        same = {None: "—", True: "yes", False: "NO"}[r["identical"]]
        lines.append(f"| {name} ({layers} layers) | {what} | {step} | {r['one_pass']:.1f} | {ratio} | {same} |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits_cnn,mnist_lenet,mnist_resnet,depthwise,vgg13")
    parser.add_argument("-T", type=int, default=32)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--vgg-batch", type=int, default=16)
    parser.add_argument("--out", help="write calibration.md (and .json) to this folder")
    args = parser.parse_args()
    header = [
        f"Calibration at T = {args.T} on this machine (`python bench/calibration.py`): seconds of the "
        "step-by-step calibration eventsim used before and of the one-pass calibration, measured in the "
        "same run; identical: the calibrated parameters agree (FTBC bit for bit).",
        "",
        "| model | calibration | step by step s | one pass s | speed-up | identical |",
        "|---|---|---|---|---|---|",
    ]
    lines = [line for name in args.models.split(",") for line in run(name, args.T, args.samples, args.vgg_batch)]
    text = "\n".join(["# Calibration time", "", *header, *lines])
    write_table(Path(args.out) if args.out else None, "calibration", text, {"T": args.T, "rows": lines})


if __name__ == "__main__":
    main()
