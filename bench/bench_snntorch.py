"""eventsim's training step against snnTorch's on the CPU: the same network, batch and input, in one run.

The network of ``bench_training.py``: the 784-200-200-10 MLP of LIF neurons (β = e^(−1/10),
θ = 1, reset by subtraction), the output the non-spiking sum over T = 100 steps, batch 256 of the
bundled MNIST calibration images, freshly initialised (``init="random"`` and ``scale_to_fire``); the
snnTorch network starts from the same weights. In snnTorch: ``nn.Linear`` and ``snn.Leaky(beta,
threshold=1, reset_mechanism="subtract", reset_delay=False)`` — with ``reset_delay=False`` the reset
is applied in the step of the spike, eventsim's rule m = β·v + I, s = [m ≥ θ], v ← m − θ·s (snnTorch
fires on m > θ and lets the gradient through the in-step reset; eventsim detaches it) — the
surrogate ``fast_sigmoid`` (snnTorch's default slope 25; ``--surrogate atan`` for its ATan), cross-
entropy on the output summed over the steps divided by T (eventsim's ``sum`` loss), Adam (lr 2e-4).
The snnTorch forward runs layer by layer: each ``nn.Linear`` once over all T steps (one product per
layer, the first layer's once per sample for direct input, the output layer's on the summed spikes),
only the neurons step by step; ``--order step`` runs the tutorials' loop instead (every layer in
every step, the first layer's product once per sample for direct input). The two take about the
same time here; the per-step loop over the currents uses ``unbind`` (indexing ``cur[t]`` makes the
backward write a full-size zero tensor per step, 2–3× slower).

Two settings, as in ``bench_training.py``: ``latency`` input (the spikes of
``eventsim.snn.coding.input_spikes(x, T, "latency")``, the very spikes eventsim makes of ``x``) with
LocalZO (δ = 0.05) in eventsim, and ``direct`` input with eventsim's fast-sigmoid surrogate (width
0.5). Whole training steps (forward, loss, backward, optimiser step) are timed in turn on the same
batches, the median of ``--repeats`` after one warm-up; snnTorch's forward, backward and optimiser
step are also given apart, and eventsim's step with its dense backward for reference. Before
training, the spike counts of both on the first batch are compared (they agree up to ties at θ and
float rounding). PyTorch runs with ``torch.set_num_threads(numba threads)`` and flushes denormals.

Needs torch and snntorch (``pip install snntorch``)::

    python bench/bench_snntorch.py [--T 100] [--batch 256] [--repeats 5] [--settings latency,direct]
        [--surrogate fast_sigmoid] [--order layer]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

try:
    import snntorch as snn
    import torch
    from snntorch import surrogate
except ImportError:  # pragma: no cover - optional
    sys.exit("this benchmark needs torch and snntorch: pip install snntorch")

from eventsim.examples import load_example_data
from eventsim.snn.coding import input_spikes
from eventsim.training import parse_estimator
from eventsim.training.forward import forward
from eventsim.training.optimizers import Optimizer
from eventsim.training.trainer import TrainSettings, TrainState, train_step

sys.path.insert(0, str(Path(__file__).parent))
from bench_training import LEAK, SETTINGS, batches, fresh_network, mnist_mlp  # noqa: E402


class SnnTorchMLP(torch.nn.Module):
    """The 784-200-200-10 LIF MLP in snnTorch, with the weights of eventsim's network ``net``."""

    def __init__(self, net, spike_grad, order: str) -> None:
        super().__init__()
        self.order = order
        self.fc = torch.nn.ModuleList()
        for name in ("fc1", "fc2", "out"):
            w, b = net.graph.node(name).params["W"], net.graph.node(name).params["b"]
            layer = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(np.array(w, np.float32)))
                layer.bias.copy_(torch.from_numpy(np.array(b, np.float32)))
            self.fc.append(layer)
        self.lif = torch.nn.ModuleList(
            snn.Leaky(beta=LEAK, threshold=1.0, spike_grad=spike_grad, reset_mechanism="subtract", reset_delay=False)
            for _ in range(2)
        )

    def forward(self, x: torch.Tensor, T: int, direct: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output summed over the steps (N, 10) and the spike trains of both layers (T, N, 200).

        ``x``: (N, 784) analog input (direct) or (T, N, 784) spikes."""
        if self.order == "step":
            return self._step_major(x, T, direct)
        cur = self.fc[0](x)  # (N, 200) once per sample, or (T, N, 200) over all steps at once
        trains = []
        for i, lif in enumerate(self.lif):
            mem = lif.init_leaky()
            spikes = []
            # unbind, not cur[t]: the backward of T selects would write T full-size zero tensors
            currents = [cur] * T if cur.dim() == 2 else cur.unbind(0)
            for t in range(T):
                spk, mem = lif(currents[t], mem)
                spikes.append(spk)
            trains.append(torch.stack(spikes))
            if i == 0:
                cur = self.fc[1](trains[0])  # (T, N, 200) in one product
        counts = trains[-1].sum(0)
        return self.fc[2](counts) + (T - 1) * self.fc[2].bias, trains

    def _step_major(self, x, T, direct):
        """The tutorials' loop: every layer in every step."""
        mem1, mem2 = self.lif[0].init_leaky(), self.lif[1].init_leaky()
        out, trains = 0, ([], [])
        cur1 = self.fc[0](x) if direct else None
        for t in range(T):
            spk1, mem1 = self.lif[0](cur1 if direct else self.fc[0](x[t]), mem1)
            spk2, mem2 = self.lif[1](self.fc[1](spk1), mem2)
            out = out + self.fc[2](spk2)
            trains[0].append(spk1)
            trains[1].append(spk2)
        return out, [torch.stack(s) for s in trains]


def torch_input(x: np.ndarray, T: int, encoding: str) -> torch.Tensor:
    """What snnTorch's network reads: (N, 784) for direct input, the latency spikes (T, N, 784)."""
    if encoding == "direct":
        return torch.from_numpy(x.reshape(len(x), -1).astype(np.float32))
    spikes, amplitude = input_spikes(x, T, encoding)
    assert amplitude == 1.0
    return torch.from_numpy(np.ascontiguousarray(np.swapaxes(spikes, 0, 1).reshape(T, len(x), -1), np.float32))


def torch_step(model, opt, xin, y, T, direct) -> dict:
    """One snnTorch training step, timed in parts."""
    t0 = time.perf_counter()
    out, _ = model(xin, T, direct)
    loss = torch.nn.functional.cross_entropy(out / T, y)
    t1 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    t2 = time.perf_counter()
    opt.step()
    t3 = time.perf_counter()
    return {"forward": t1 - t0, "backward": t2 - t1, "optimizer": t3 - t2, "step": t3 - t0, "loss": loss.item()}


def spike_check(net, model, x, T, encoding, estimator) -> str:
    """Spikes per layer of both networks on ``x`` before any update."""
    tape = forward(net, x, T, estimator, encoding=encoding, sparse=False)
    with torch.no_grad():
        _, trains = model(torch_input(x, T, encoding), T, encoding == "direct")
    parts = []
    for name, train in zip(("lif1", "lif2"), trains):
        ours, theirs = float(tape.values[name].sum()), float(train.sum())
        parts.append(f"{name} {ours:.0f} vs {theirs:.0f} ({100 * (theirs - ours) / max(ours, 1):+.2f}%)")
    return "spikes eventsim vs snnTorch on the first batch: " + ", ".join(parts)


def time_setting(name: str, x, y, args, spike_grad) -> dict:
    encoding, spec = SETTINGS[name]
    estimator = parse_estimator(spec)
    direct = encoding == "direct"
    base = fresh_network(mnist_mlp(), x[: args.batch], args.T, encoding)
    model = SnnTorchMLP(base, spike_grad, args.order)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    states = {
        bw: TrainState(
            copy.deepcopy(base), Optimizer("adam", args.lr), TrainSettings(args.T, encoding, backward=bw), estimator
        )
        for bw in ("sparse", "dense")
    }
    check = spike_check(base, model, x[: args.batch], args.T, encoding, estimator)
    keys = ("snntorch", "sparse", "dense")
    times = {k: [] for k in keys}
    for k, idx in enumerate(batches(len(x), args.batch, 1 + args.repeats)):
        xb, yb = x[idx], y[idx]
        xin, yt = torch_input(xb, args.T, encoding), torch.from_numpy(yb)  # input coding is not timed
        order = keys if k % 2 == 0 else keys[::-1]
        for who in order:
            if who == "snntorch":
                stats = torch_step(model, opt, xin, yt, args.T, direct)
            else:
                t0 = time.perf_counter()
                s = train_step(states[who], xb, yb, epoch=0, batch=k)
                stats = {"forward": s["forward"], "backward": s["backward"], "step": time.perf_counter() - t0}
                stats["active"] = sum(s["active"].values()) / sum(s["entries"].values())
            if k > 0:
                times[who].append(stats)
    median = {who: {key: statistics.median(s[key] for s in times[who]) for key in times[who][0]} for who in keys}
    return {"setting": name, "estimator": spec, "median": median, "check": check}


def print_table(results: list[dict], args, load: tuple[float, float]) -> None:
    sg = f"fast_sigmoid(slope={args.slope:g})" if args.surrogate == "fast_sigmoid" else "atan()"
    print(
        f"\nTraining step of the 784-200-200-10 LIF MLP, T = {args.T}, batch {args.batch}, MNIST calib;"
        f" median of {args.repeats} steps after 1 warm-up; {numba.get_num_threads()} threads (Numba and PyTorch);"
        f" torch {torch.__version__}, snntorch {snn.__version__} ({sg}, {args.order}-major forward);"
        f" load average {load[0]:.1f} → {load[1]:.1f}"
    )
    head = (
        f"{'setting':<8} {'snnTorch fwd':>12} {'bwd':>7} {'opt':>6} {'step s':>7} | {'eventsim estimator':<22}"
        f" {'active':>7} {'sparse fwd':>10} {'bwd':>6} {'step s':>7} | {'dense step s':>12} |"
        f" {'eventsim/snnTorch':>17} {'(dense)':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        t, s, d = r["median"]["snntorch"], r["median"]["sparse"], r["median"]["dense"]
        est = r["estimator"].split(",")[0]
        print(
            f"{r['setting']:<8} {t['forward']:>12.3f} {t['backward']:>7.3f} {t['optimizer']:>6.3f} {t['step']:>7.3f} |"
            f" {est:<22} {100 * s['active']:>6.2f}% {s['forward']:>10.3f} {s['backward']:>6.3f}"
            f" {s['step']:>7.3f} | {d['step']:>12.3f} | {s['step'] / t['step']:>17.2f} {d['step'] / t['step']:>8.2f}"
        )
    print("(eventsim/snnTorch: step-time ratio, < 1 means eventsim is faster)")
    for r in results:
        print(f"{r['setting']}: {r['check']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--T", type=int, default=100)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per method (after 1 warm-up)")
    parser.add_argument("--settings", default="latency,direct", help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate (both)")
    parser.add_argument("--surrogate", choices=("fast_sigmoid", "atan"), default="fast_sigmoid")
    parser.add_argument("--slope", type=float, default=25.0, help="snnTorch's fast_sigmoid slope")
    parser.add_argument("--order", choices=("layer", "step"), default="layer", help="snnTorch's forward loop")
    args = parser.parse_args()
    torch.set_num_threads(numba.get_num_threads())
    torch.set_flush_denormal(True)
    spike_grad = surrogate.fast_sigmoid(slope=args.slope) if args.surrogate == "fast_sigmoid" else surrogate.atan()
    data = load_example_data("mnist")
    x, y = data["x_calib"], data["y_calib"]
    load0 = os.getloadavg()[0]
    results = []
    for name in args.settings.split(","):
        if name not in SETTINGS:
            parser.error(f"unknown setting {name!r}; use {', '.join(SETTINGS)}")
        results.append(time_setting(name, x, y, args, spike_grad))
    print_table(results, args, (load0, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
