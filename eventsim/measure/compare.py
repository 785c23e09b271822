"""Accuracy of several conversion presets at several time steps, on the same data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence

import numpy as np

from ..conversion import convert, resolve
from ..ir.executor import run_ann
from ..ir.graph import Graph
from ..simulation.api import simulate

#: Presets whose calibration for T differs from their calibration for T' > T truncated to T
#: (OPI's optimised v0 is chosen for one T): they are converted and simulated once per T.
PER_T_PRESETS = ("opi-opt",)


def compare(
    graph: Graph,
    calib_x: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    presets: Sequence[str],
    steps: Sequence[int],
    engine: str = "auto",
    encoding: str = "direct",
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
    **options,
) -> dict:
    """Test accuracy of every preset at every step in ``steps``.

    Each preset is converted once, for the largest T, and simulated once: accuracy at every t ≤ T
    comes from that one run. That is exact for FTBC too, because its bias for step t depends only on
    steps ≤ t. Presets in :data:`PER_T_PRESETS` are converted and simulated for each T. TTFS networks
    always read their input with TTFS coding.

    Returns
    -------
    dict
        ``steps``, ``ann_accuracy``, and per preset ``accuracy`` (one value per step) and
        ``spikes_per_sample`` (at the largest T).
    """
    steps = sorted({int(s) for s in steps})
    for preset in presets:
        resolve(preset, steps[-1], **options)  # refuse a bad combination before any work
    ann_accuracy = float(np.mean(np.argmax(run_ann(graph, x).reshape(len(x), -1), axis=1) == y))
    table = {
        "steps": steps,
        "ann_accuracy": ann_accuracy,
        "engine": engine,
        "encoding": encoding,
        "samples": len(x),
        "presets": {},
    }
    for preset in presets:
        runs = [(t, t) for t in steps] if preset in PER_T_PRESETS else [(steps[-1], None)]
        accuracy, spikes = {}, 0.0
        for T, only in runs:
            net = convert(graph, calib_x, preset, T=T, progress=progress, **options)
            coding = net.required_encoding or encoding
            rec = simulate(net, x, T, engine=engine, encoding=coding, batch_size=batch_size)
            curve = rec.accuracy(y)
            for t in steps if only is None else [only]:
                accuracy[t] = float(curve[t - 1])
            spikes = float(rec.spikes_per_sample.sum(axis=1).mean())
            per_neuron = spikes / float(rec.neurons.sum())
            if progress:
                progress(f"{preset}: simulated T={T}")
        table["presets"][preset] = {
            "accuracy": [accuracy[t] for t in steps],
            "spikes_per_sample": spikes,
            "spikes_per_neuron": per_neuron,
        }
    return table


def steps_to_reach(table: dict, preset: str, margin: float = 0.01) -> int | None:
    """The smallest step of ``table`` from which ``preset``'s accuracy stays within ``margin`` of the
    ANN's at every larger step of the table; None if it is not within at the largest."""
    found = None
    for t, a in reversed(list(zip(table["steps"], table["presets"][preset]["accuracy"]))):
        if a < table["ann_accuracy"] - margin:
            break
        found = t
    return found


def table_text(table: dict) -> str:
    """The comparison as an aligned text table (accuracy in %; spikes per neuron per sample at the
    largest T)."""
    steps = table["steps"]
    lines = [f"{'preset':10s} " + " ".join(f"{'T=' + str(t):>7s}" for t in steps) + "  spikes/neuron"]
    for preset, row in table["presets"].items():
        per_neuron = f"  {row['spikes_per_neuron']:13.2f}" if "spikes_per_neuron" in row else ""
        lines.append(f"{preset:10s} " + " ".join(f"{100 * a:7.2f}" for a in row["accuracy"]) + per_neuron)
    lines.append(f"{'ANN':10s} {100 * table['ann_accuracy']:7.2f}")
    return "\n".join(lines)


def table_csv(table: dict) -> str:
    """The comparison as CSV: one row per preset, one column per step."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["preset"] + [f"T={t}" for t in table["steps"]])
    for preset, row in table["presets"].items():
        writer.writerow([preset] + [f"{a:.4f}" for a in row["accuracy"]])
    writer.writerow(["ANN"] + [f"{table['ann_accuracy']:.4f}"] * len(table["steps"]))
    return out.getvalue()


def table_json(table: dict) -> str:
    return json.dumps(table, indent=2)
