"""Simulation in one process against a Dask LocalCluster of worker processes on this machine.

Converts a bundled model (opi), then simulates N test samples (the test split repeated to N) at T
steps: in process, and on a LocalCluster of ``--workers`` processes — the cluster's start-up, the
first run (each worker loads the network and its compiled kernels) and a second run timed apart.
Prints seconds, samples per second and the ratios against the in-process run measured in the same
run, and a paper estimate for M machines from the parts: start-up + per-task overhead + the
in-process time divided by the machines.

    python bench/cluster_speed.py [--model mnist_lenet] [-T 64] [--samples 5000] [--workers 2] [--chunk 256]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import eventsim
from eventsim.examples import example_data_name, example_model_path, load_example_data


def timed(fn):
    """``fn()`` and its seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist_lenet")
    parser.add_argument("-T", type=int, default=64)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=256)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    data = load_example_data(example_data_name(args.model))
    graph = eventsim.load_onnx(example_model_path(args.model))
    net = eventsim.convert(graph, data["x_calib"], "opi")
    x = np.resize(data["x_test"], (args.samples,) + data["x_test"].shape[1:])
    eventsim.simulate(net, x[:8], args.T)  # compile in this process
    here, t_here = timed(lambda: eventsim.simulate(net, x, args.T))
    (cluster, client), t_start = timed(
        lambda: (c := LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0"), Client(c))
    )
    try:
        run = lambda: eventsim.simulate(net, x, args.T, cluster=cluster.scheduler_address, chunk_size=args.chunk)  # noqa: E731
        first, t_first = timed(run)
        second, t_second = timed(run)
    finally:
        client.close()
        cluster.close()
    same = np.array_equal(here.outputs, second.outputs) and np.array_equal(here.spikes_per_step, second.spikes_per_step)
    tasks = -(-args.samples // args.chunk)
    print(f"{args.model}, opi, T={args.T}, {args.samples} samples, {args.workers} workers, chunks of {args.chunk}")
    print(f"{'run':34s} {'s':>8s} {'samples/s':>10s} {'vs in-process':>14s}")
    for name, seconds in (
        ("in process (all cores)", t_here),
        ("cluster start-up", t_start),
        ("cluster, first run (loads kernels)", t_first),
        ("cluster, second run", t_second),
        ("cluster, start-up + one run", t_start + t_first),
    ):
        if name == "cluster start-up":  # no samples: neither a rate nor a ratio
            print(f"{name:34s} {seconds:8.2f} {'—':>10s} {'—':>14s}")
            continue
        print(f"{name:34s} {seconds:8.2f} {args.samples / seconds:10.0f} {t_here / seconds:13.2f}x")
    overhead = max(t_second - t_here, 0.0) / tasks
    print(f"bit-identical to the in-process run: {same}; per-task overhead on this machine ≈ {overhead * 1e3:.0f} ms")
    print("paper estimate for M machines like this one (start-up + overhead + in-process time / M):")
    for machines in (1, 2, 4, 8, 16):
        estimate = t_start + tasks * overhead / machines + t_here / machines
        print(f"  M={machines:2d}: {estimate:7.1f} s  ({t_here / estimate:.2f}x the one-process run)")


if __name__ == "__main__":
    main()
