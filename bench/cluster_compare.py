"""``compare`` in one process against ``compare(cluster="local", workers=2)``, and where the time goes.

One bundled model, a few presets, T = 1, 2, 4, ..., 64 (``compare`` simulates each preset once at the
largest T and reads the accuracy at every t from that run) and ``--samples`` test samples (the test
split repeated). Times, in one run of this script:

* ``compare`` in this process, after this process has loaded its kernels (the warm-up, timed apart);
* ``compare(..., cluster="local", workers=W)``: a new LocalCluster for the table, its start-up, the
  workers' kernels and everything else included;
* the split of the cluster run, each part measured on its own: the ANN's accuracy and the
  conversions on the client (the same in both runs), the cluster's start-up (LocalCluster + Client),
  the workers' kernels (timed on each worker of a fresh cluster: its first ``simulate`` of each
  preset on 64 samples minus its second), the transfer (``client.scatter`` of the network to every
  worker and of the data in chunks, and the recordings gathered back, timed directly) and the
  simulation (the faster of two warm ``simulate`` calls per preset, minus the transfer), against
  ``simulate`` in this process (the faster of two).

Then a paper estimate for M machines of this machine's cores from those parts.

    NUMBA_CACHE_DIR=/tmp/numba-bench python bench/cluster_compare.py \
        [--model mnist_lenet] [--presets baseline opi ftbc] [-T 64] [--samples 5000] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pickle
import time

import numpy as np

import eventsim
from eventsim.examples import example_data_name, example_model_path, load_example_data
from eventsim.ir.executor import run_ann
from eventsim.measure.compare import compare
from eventsim.simulation.distributed import DEFAULT_CHUNK

#: Bytes per second of the network assumed in the estimate's second column (1 Gbit/s Ethernet).
LINK = 125e6


def timed(fn):
    """``fn()`` and its seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def start_cluster(workers: int):
    """What ``cluster="local"`` starts: a LocalCluster of worker processes and a Client of it."""
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return local, Client(local)


def kernel_load(nets: dict, x: np.ndarray, T: int, workers: int) -> float:
    """Run on a worker: seconds of its first ``simulate`` of each network on ``x`` beyond its second
    (loading eventsim's modules and its compiled kernels), with the worker's share of the cores."""
    import numba

    numba.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    first = sum(timed(lambda: eventsim.simulate(net, x, T))[1] for net in nets.values())
    second = sum(timed(lambda: eventsim.simulate(net, x, T))[1] for net in nets.values())
    return first - second


def chunk_parts(rec, chunk: int) -> list:
    """``rec`` cut into the recordings the cluster's tasks send back (one per chunk of samples)."""
    cut = lambda a, i: None if a is None else a[i : i + chunk]  # noqa: E731
    return [
        dataclasses.replace(
            rec,
            outputs=cut(rec.outputs, i),
            spikes_per_sample=cut(rec.spikes_per_sample, i),
            sops_per_sample=cut(rec.sops_per_sample, i),
            first_spike=cut(rec.first_spike, i),
        )
        for i in range(0, rec.samples, chunk)
    ]


def transfer(client, net, x: np.ndarray, rec, chunk: int) -> dict:
    """Seconds and bytes of one ``simulate`` call's traffic, timed directly: the network to every
    worker, the data in chunks to the workers, the chunks' recordings back to the client."""
    _, t_net = timed(lambda: client.scatter(net, broadcast=True))
    chunks = [x[i : i + chunk] for i in range(0, len(x), chunk)]
    _, t_data = timed(lambda: client.scatter(chunks))
    back = client.scatter(chunk_parts(rec, chunk))
    _, t_back = timed(lambda: client.gather(back))
    return {
        "net": t_net,
        "data": t_data,
        "back": t_back,
        "net_bytes": len(pickle.dumps(net)),
        "data_bytes": x.nbytes,
        "back_bytes": len(pickle.dumps(chunk_parts(rec, chunk))),
    }


def measure(args) -> dict:
    """Every time of the comparison and of its split (module docstring)."""
    data = load_example_data(example_data_name(args.model))
    graph = eventsim.load_onnx(example_model_path(args.model))
    calib = data["x_calib"]
    x = np.resize(data["x_test"], (args.samples,) + data["x_test"].shape[1:])
    y = np.resize(data["y_test"], args.samples)
    steps = [2**k for k in range(int(math.log2(args.T)) + 1)]
    m: dict = {"steps": steps, "samples": len(x), "load_before": os.getloadavg()}

    nets = {p: eventsim.convert(graph, calib, p, T=args.T) for p in args.presets}  # first use, untimed
    # this process loads (or compiles, with an empty Numba cache) its kernels: timed apart
    _, m["warmup"] = timed(lambda: [eventsim.simulate(nets[p], x[:64], args.T) for p in args.presets])

    here, m["compare_here"] = timed(lambda: compare(graph, calib, x, y, args.presets, steps))
    there, m["compare_cluster"] = timed(
        lambda: compare(graph, calib, x, y, args.presets, steps, cluster="local", workers=args.workers)
    )
    m["same_table"] = all(here["presets"][p]["accuracy"] == there["presets"][p]["accuracy"] for p in args.presets)
    m["accuracy"] = {p: here["presets"][p]["accuracy"] for p in args.presets}
    m["ann_accuracy"] = here["ann_accuracy"]

    m["ann"] = timed(lambda: run_ann(graph, x))[1]
    m["convert"] = {p: timed(lambda: eventsim.convert(graph, calib, p, T=args.T))[1] for p in args.presets}
    m["sim_here"], recs = {}, {}
    for p in args.presets:
        recs[p], m["sim_here"][p] = timed(lambda: eventsim.simulate(nets[p], x, args.T))
        m["sim_here"][p] = min(m["sim_here"][p], timed(lambda: eventsim.simulate(nets[p], x, args.T))[1])
    (local, client), m["startup"] = timed(lambda: start_cluster(args.workers))
    try:
        address = local.scheduler_address
        run = lambda p: eventsim.simulate(nets[p], x, args.T, cluster=address)  # noqa: E731
        m["kernels"] = client.run(kernel_load, nets, x[:64], args.T, args.workers)  # seconds by worker
        m["first"] = {p: timed(lambda: run(p))[1] for p in args.presets}
        m["second"] = {p: timed(lambda: run(p))[1] for p in args.presets}
        m["transfer"] = {p: transfer(client, nets[p], x, recs[p], DEFAULT_CHUNK) for p in args.presets}
    finally:
        client.close()
        local.close()
    m["tasks"] = -(-len(x) // DEFAULT_CHUNK)
    m["load_after"] = os.getloadavg()
    return m


def report(m: dict, args) -> None:
    """The table, the split and the estimate."""
    presets, n = args.presets, len(args.presets)
    work = n * m["samples"] * args.T  # samples x steps simulated by a compare
    client = m["ann"] + sum(m["convert"].values())
    sim_here = sum(m["sim_here"].values())
    moved = {k: sum(t[k] for t in m["transfer"].values()) for k in ("net", "data", "back")}
    moved_bytes = {k: sum(t[k + "_bytes"] for t in m["transfer"].values()) for k in ("net", "data", "back")}
    t_move = sum(moved.values())
    compile_ = max(m["kernels"].values())  # the workers load theirs at the same time
    sim_there = sum(min(m["first"][p], m["second"][p]) for p in presets) - t_move
    print(
        f"{args.model}, presets {', '.join(presets)}, T = {', '.join(map(str, m['steps']))} (one run at T={args.T} "
        f"per preset), {m['samples']} samples, {args.workers} workers, chunks of {DEFAULT_CHUNK} "
        f"({m['tasks']} tasks per preset), {os.cpu_count()} cores"
    )
    load = lambda key: "/".join(f"{v:.2f}" for v in m[key])  # noqa: E731
    print(f"load average (1/5/15 min) before {load('load_before')}, after {load('load_after')}")
    print(f"cluster table identical to the in-process one: {m['same_table']}; ANN {100 * m['ann_accuracy']:.2f} %")
    for p in presets:
        print(f"  {p:9s} " + " ".join(f"{100 * a:6.2f}" for a in m["accuracy"][p]))
    print(f"\n{'run':52s} {'s':>7s} {'samples·steps/s':>16s} {'vs in-process':>14s}")
    rows = (
        ("compare in process (kernels loaded)", m["compare_here"]),
        ("compare in process + this process's kernel load", m["compare_here"] + m["warmup"]),
        (f"compare, cluster='local', workers={args.workers} (start-up incl.)", m["compare_cluster"]),
    )
    for name, s in rows:
        print(f"{name:52s} {s:7.2f} {work / s:16,.0f} {m['compare_here'] / s:13.2f}x")
    print(f"(kernel load of this process, {n} presets on 64 samples: {m['warmup']:.2f} s)")
    print("(workers' kernel load, s: " + ", ".join(f"{v:.2f}" for v in m["kernels"].values()) + ")")

    print("\nsplit of the cluster compare (parts measured apart; in process for comparison)")
    parts = (
        ("client: ANN accuracy + conversion (same in both)", client, client),
        ("cluster start-up (LocalCluster + Client)", m["startup"], 0.0),
        ("workers' kernels (first - second simulate, on the worker)", compile_, 0.0),
        (
            f"transfer: network {moved['net']:.2f} + data {moved['data']:.2f} + back {moved['back']:.2f}",
            t_move,
            0.0,
        ),
        ("simulation (faster warm run - transfer; in process)", sim_there, sim_here),
    )
    total_there = sum(p[1] for p in parts)
    for name, there, here in parts:
        print(f"  {name:62s} {there:7.2f} s ({100 * there / total_there:4.1f} %)  in process {here:7.2f} s")
    print(f"  {'sum of the parts':62s} {total_there:7.2f} s  (measured {m['compare_cluster']:.2f} s)")
    print(f"  {'':62s} {'':17s}  in process {client + sim_here:7.2f} s  (measured {m['compare_here']:.2f} s)")
    mb = {k: v / 1e6 for k, v in moved_bytes.items()}
    print(
        f"  bytes, all presets: network {mb['net']:.2f} MB per worker, data {mb['data']:.1f} MB, "
        f"back {mb['back']:.1f} MB"
    )
    for p in presets:
        print(
            f"  {p:9s} convert {m['convert'][p]:5.2f}  in process {m['sim_here'][p]:6.2f}  "
            f"cluster first {m['first'][p]:6.2f}  second {m['second'][p]:6.2f}"
        )

    # paper estimate: M machines like this one, `workers` workers each (module docstring of the docs)
    slots1 = args.workers
    waves1 = math.ceil(m["tasks"] / slots1)
    task = sim_here / (n * waves1)  # one wave of tasks at the in-process rate
    overhead = (sim_there - sim_here) / (n * waves1)  # per task, the workers' tasks in flight together
    print(f"\nper-task overhead ≈ {1e3 * overhead:.0f} ms (a task at the in-process rate ≈ {1e3 * task:.0f} ms)")
    print(
        f"paper estimate for M machines like this one, {slots1} workers each (not measured): client work, start-up\n"
        "and kernel load as here (the machines start and load at the same time); one copy of each network per\n"
        "worker sent from the client (grows with M); the same data and recordings; the tasks in waves of\n"
        f"{slots1}·M, each at the in-process rate plus the per-task overhead measured here. 1 Gbit/s: the bytes over\n"
        "a 1 Gbit/s link instead of the loopback's times. ideal: no waves (the work divided by M exactly)."
    )
    head = f"{'loopback s':>11s} {'x in-proc':>9s} {'1 Gbit/s s':>11s} {'x in-proc':>9s}"
    print(f"  {'M':>3s} {'waves':>6s} {head}  ideal s")
    for machines in (1, 2, 4, 8, 16):
        waves = math.ceil(m["tasks"] / (slots1 * machines))
        fixed = client + m["startup"] + compile_
        net_move = moved["net"] * machines  # one copy of each network per worker, sent from the client
        loop = fixed + net_move + moved["data"] + moved["back"] + n * waves * (task + overhead)
        link = fixed + (moved_bytes["net"] * slots1 * machines + moved_bytes["data"] + moved_bytes["back"]) / LINK
        link += n * waves * (task + overhead)
        ideal = fixed + net_move + moved["data"] + moved["back"] + n * waves1 * (task + overhead) / machines
        here = m["compare_here"]
        cells = f"{loop:11.1f} {here / loop:8.2f}x {link:11.1f} {here / link:8.2f}x"
        print(f"  {machines:3d} {waves:6d} {cells}  {ideal:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist_lenet")
    parser.add_argument("--presets", nargs="+", default=["baseline", "opi", "ftbc"])
    parser.add_argument("-T", type=int, default=64, help="largest T (a power of 2)")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    report(measure(args), args)


if __name__ == "__main__":
    main()
