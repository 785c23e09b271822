"""eventsim against SpikingJelly's multi-step mode on the CPU, on the same converted networks.

Every bundled example model is converted (default preset, its own calibration data) and, beside it,
the VGG-style network of ``bench_engines.py`` at several firing rates. The same network — weights,
thresholds, initial potentials, reset by subtraction, max pooling on cumulative counts, output summed
over the steps — is built in PyTorch with SpikingJelly's ``IFNode`` in multi-step mode (``step_mode="m"``,
its TorchScript CPU path: every layer over all T × batch at once, as a dense framework runs a
converted network), and both are timed in one run with the same number of threads. Prints per model,
batch and firing rate: samples/s of SpikingJelly, of eventsim's step-major ``event`` engine and of its
layer-major ``layer`` engine, the speed-ups, and the relative difference of the total spike counts (not
zero in general: SpikingJelly's neurons see the current divided by θ, which rounds differently).

Needs ``pip install "eventsim[bench]"`` (torch and spikingjelly)::

    python bench/bench_spikingjelly.py [--T 32] [--batches 1,64] [--models all] [--rates 0.02,0.05,0.1,0.2,0.4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numba
import numpy as np

import eventsim
from eventsim.examples import example_data_name, example_model_path, example_names, load_example_data

try:
    import torch
    import torch.nn.functional as F
    from spikingjelly.activation_based import functional, neuron
except ImportError:  # pragma: no cover - optional
    sys.exit('this benchmark needs torch and spikingjelly: pip install "eventsim[bench]"')

sys.path.insert(0, str(Path(__file__).parent))
from bench_engines import build, network_at_rate  # noqa: E402


class TorchNetwork(torch.nn.Module):
    """The spiking network ``net`` in PyTorch with SpikingJelly IF neurons, multi-step (module docstring)."""

    def __init__(self, net: eventsim.SpikingNetwork) -> None:
        super().__init__()
        self.net, self.graph = net, net.graph
        self.cells = torch.nn.ModuleList(
            neuron.IFNode(v_threshold=1.0, v_reset=None, step_mode="m") for _ in net.layer_names
        )
        self.neurons = dict(zip(net.layer_names, self.cells))
        shape = lambda name: tuple(self.graph.node(name).shape)  # noqa: E731
        self.theta = {n: torch.from_numpy(net.threshold_array(n).astype(np.float32)) for n in net.layer_names}
        self.v0 = {n: torch.from_numpy(net.v0_array(n) / net.threshold_array(n)).float() for n in net.layer_names}
        self.shape = shape

    def forward(self, x: np.ndarray, T: int) -> tuple[torch.Tensor, int]:
        """Outputs (B, T, classes) and the total spike count."""
        functional.reset_net(self)
        b, values, spikes = len(x), {}, 0
        for node in self.graph.nodes:
            spec, name = node.spec, node.name
            if spec.role == "input":
                once = torch.from_numpy(spec.forward(node, [x]))
                values[name] = once.unsqueeze(0).expand((T,) + once.shape).reshape((T * b,) + once.shape[1:])
            elif spec.role == "activation":
                current = values[node.inputs[0]].reshape((T, b) + self.shape(name)) / self.theta[name]
                cell = self.neurons[name]
                cell.v = self.v0[name].expand((b,) + self.shape(name)).clone()
                s = cell(current)
                spikes += int(s.sum())
                values[name] = (s * self.theta[name]).reshape((T * b,) + self.shape(name))
            else:
                values[name] = self._op(node, [values[i] for i in node.inputs], T, b)
        out = values[self.graph.output].reshape(T, b, -1).cumsum(0)
        return out.transpose(0, 1), spikes

    def _op(self, node, xs, T, b):
        a, p, op = node.attrs, node.params, node.op
        if op == "conv":
            t, left, bottom, right = a["pads"]
            x = F.pad(xs[0], (left, right, t, bottom)) if any(a["pads"]) else xs[0]
            w, bias = torch.from_numpy(p["W"]), torch.from_numpy(p["b"])
            return F.conv2d(x, w, bias, a["stride"], 0, a["dilation"], a["groups"])
        if op == "dense":
            return F.linear(xs[0], torch.from_numpy(p["W"]), torch.from_numpy(p["b"]))
        if op == "maxpool":  # on cumulative counts, as in eventsim (a spike-wise max pool would differ)
            x = xs[0].reshape((T, b) + xs[0].shape[1:]).cumsum(0).flatten(0, 1)
            pooled = F.max_pool2d(x, a["kernel"], a["stride"], a["pads"][:2], a["dilation"], a["ceil_mode"])
            pooled = pooled.reshape((T, b) + pooled.shape[1:])
            return torch.diff(pooled, dim=0, prepend=torch.zeros_like(pooled[:1])).flatten(0, 1)
        if op == "avgpool":
            return F.avg_pool2d(xs[0], a["kernel"], a["stride"], a["pads"][:2], a["ceil_mode"], a["count_include_pad"])
        if op == "add":
            return sum(xs[1:], xs[0])
        if op == "reshape":
            return xs[0].reshape((T * b,) + tuple(node.shape))
        raise SystemExit(f"the SpikingJelly translation has no {op!r}")


def best_of(fn, repeats: int) -> tuple[object, float]:
    out, best = None, np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def compare(label: str, net, x: np.ndarray, T: int, repeats: int) -> None:
    model = TorchNetwork(net)
    with torch.no_grad():
        model(x[:1], 2)
        (out, sj_spikes), t_sj = best_of(lambda: model(x, T), repeats)
    times, rec = {}, None
    for engine in ("event", "layer"):
        eventsim.simulate(net, x[:1], 2, engine=engine)  # compile, calibrate
        rec, times[engine] = best_of(lambda: eventsim.simulate(net, x, T, engine=engine, batch_size=len(x)), repeats)
    ours = int(rec.spikes_per_sample.sum())
    rate = ours / (rec.neurons.sum() * T * len(x))
    diff = abs(ours - sj_spikes) / max(ours, 1)
    n = len(x)
    print(
        f"{label:14s} {rate:6.3f} {n:5d} {n / t_sj:9.1f} {n / times['event']:9.1f} {n / times['layer']:9.1f} "
        f"{t_sj / times['event']:8.2f} {t_sj / times['layer']:8.2f} {diff:9.1e}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, default=32)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--models", default="all", help="bundled model names and/or vgg, comma-separated")
    parser.add_argument("--rates", default="0.02,0.05,0.1,0.2,0.4", help="firing rates of the VGG-style network")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(numba.get_num_threads())
    torch.set_flush_denormal(True)
    models = example_names() + ["vgg"] if args.models == "all" else args.models.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    print(f"T = {args.T}, {numba.get_num_threads()} threads (Numba and PyTorch), best of {args.repeats}")
    print(
        f"{'model':14s} {'rate':>6s} {'batch':>5s} {'SJ /s':>9s} {'event /s':>9s} {'layer /s':>9s} "
        f"{'event/SJ':>8s} {'layer/SJ':>8s} {'spikes Δ':>9s}"
    )
    for name in models:
        if name == "vgg":
            graph = build("vgg", np.random.default_rng(0))
            data = np.random.default_rng(1).random((max(batches),) + graph.input_shape, dtype=np.float32)
            for rate in (float(r) for r in args.rates.split(",")):
                net = network_at_rate(graph, data[:16], rate)
                for b in batches:
                    compare(f"vgg@{rate:g}", net, data[:b], args.T, args.repeats)
            continue
        graph = eventsim.load_onnx(example_model_path(name))
        data = load_example_data(example_data_name(name))
        net = eventsim.convert(graph, data["x_calib"])
        for b in batches:
            compare(name, net, data["x_test"][:b], args.T, args.repeats)


if __name__ == "__main__":
    main()
