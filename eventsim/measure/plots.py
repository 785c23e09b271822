"""Figures (matplotlib, headless ``Agg``): each function returns the PNG as bytes, so callers decide
where it goes (written atomically by reports, shown inline by notebooks)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np

from .counts import TERMS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def short(name: str, width: int = 24) -> str:
    """A node name for axis labels: exporter suffixes and leading scopes dropped, at most ``width``
    characters (``/features/features.4/Conv_output_0`` → ``features.4/Conv``)."""
    label = "/".join(name.removesuffix("_output_0").strip("/").split("/")[-2:]) or name
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def accuracy_vs_steps_png(table: dict, title: str = "") -> bytes:
    """PNG of test accuracy against time steps, one line per preset, the ANN as a dashed line
    (``table`` from :func:`eventsim.measure.compare.compare`)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for preset, row in table["presets"].items():
        # a row measured at some steps only (fine-tuning: one network per T) has None at the others
        points = [(t, 100 * a) for t, a in zip(table["steps"], row["accuracy"]) if a is not None]
        ax.plot([t for t, _ in points], [a for _, a in points], marker="o", label=preset)
    return _accuracy_figure(fig, ax, table["ann_accuracy"], "time steps T", "test accuracy (%)", title)


def accuracy_per_step_png(curves: Mapping[str, Sequence[float]], ann_accuracy: float | None, title: str = "") -> bytes:
    """PNG of accuracy at every step t = 1..T of one or more runs, the ANN as a dashed line."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), 100 * np.asarray(curve), label=label)
    return _accuracy_figure(fig, ax, ann_accuracy, "time step t", "accuracy (%)", title)


def _accuracy_figure(fig, ax, ann_accuracy: float | None, xlabel: str, ylabel: str, title: str) -> bytes:
    """The ANN line, log2 time axis, labels and legend of an accuracy plot; the PNG."""
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="black", linestyle="--", label="ANN")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def firing_rates_png(layers: Sequence[str], rates: Sequence[float], title: str = "") -> bytes:
    """PNG bar chart of the mean spikes per neuron per step of each neuron layer."""
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.35 * len(layers)), dpi=120)
    ax.barh([short(n) for n in layers][::-1], list(rates)[::-1], color="tab:orange")
    ax.set_xlabel("spikes per neuron per step")
    ax.set_title(title or "firing rates")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def raster_png(points: Mapping[str, dict], T: int, title: str = "") -> bytes:
    """PNG spike raster of one sample: each layer's shown neurons stacked, a tick per spike
    (``points``: :meth:`eventsim.Recording.raster_points`)."""
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    offset, ticks = 0, []
    for k, (name, layer) in enumerate(points.items()):
        ax.scatter(
            np.asarray(layer["t"]),
            offset + np.asarray(layer["neuron"]),
            s=2,
            marker="|",
            color=f"C{k % 10}",
            linewidths=0.6,
        )
        ticks.append((offset + layer["shown"] / 2, short(name)))
        offset += layer["shown"] + 10
    ax.set_yticks([p for p, _ in ticks], [n for _, n in ticks], fontsize=7)
    ax.invert_yaxis()  # first layer on top
    ax.set_xlabel("time step t")
    ax.set_xlim(0.5, T + 0.5)
    ax.set_title(title or "spike raster")
    return _png(fig)


def spike_times_png(steps: Mapping[str, np.ndarray], T: int, title: str = "") -> bytes:
    """PNG of each layer's spike-time distribution: per layer, the share of its (sample, neuron)
    pairs whose first spike comes at each step, and how many never fire (``steps``:
    :meth:`eventsim.Recording.first_spike_steps`)."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    bins = np.arange(1, T + 2) - 0.5
    for k, (name, times) in enumerate(steps.items()):
        fired = times[times > 0]
        share = np.histogram(fired, bins=bins)[0] / max(times.size, 1)
        silent = 100 * (1 - fired.size / max(times.size, 1))
        ax.step(
            np.arange(1, T + 1),
            100 * share,
            where="mid",
            color=f"C{k % 10}",
            label=f"{short(name)} ({silent:.0f} % silent)",
        )
    ax.set(xlabel="step of the first spike", ylabel="% of (sample, neuron) pairs", xlim=(0.5, T + 0.5))
    ax.set_title(title or "spike times per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def latency_histogram_png(decision: np.ndarray, T: int, first_ann_match: np.ndarray | None = None) -> bytes:
    """PNG histogram of per-sample decision times (and first agreement with the ANN)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    bins = np.arange(0.5, T + 1.5 + 1)
    ax.hist(decision, bins=bins, alpha=0.7, label="time to decision")
    if first_ann_match is not None:
        ax.hist(first_ann_match, bins=bins, alpha=0.5, label="first step = ANN (T+1: never)")
    ax.set_xlabel("time step")
    ax.set_ylabel("samples")
    ax.set_xscale("log", base=2)
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)


def energy_breakdown_png(report: dict, title: str = "") -> bytes:
    """PNG of the energy per sample per node, SNN beside ANN, stacked by term
    (``report``: :meth:`eventsim.measure.energy.EnergyReport.to_dict`)."""
    snn, ann = report["snn"]["by_node_pj"], report["ann"]["by_node_pj"]
    comparable = report["ann_over_snn"] is not None
    nodes = list(dict.fromkeys(list(snn) + (list(ann) if comparable else [])))
    terms = sorted({t for d in list(snn.values()) + list(ann.values()) for t in d})
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.5 * len(nodes)), dpi=120)
    y = np.arange(len(nodes))
    labelled: set[str] = set()
    for side, data, shift, hatch in (("SNN", snn, -0.2, ""), ("ANN", ann, 0.2, "//")):
        if side == "ANN" and not comparable:
            continue
        left = np.zeros(len(nodes))
        for k, term in enumerate(terms):
            values = np.array([data.get(n, {}).get(term, 0.0) for n in nodes]) / 1e3
            label = term if values.any() and term not in labelled else None
            labelled |= {label} if label else set()
            color = plt.cm.tab20(list(TERMS).index(term) % 20)  # a term has the same colour in every figure
            ax.barh(y + shift, values, 0.38, left=left, color=color, hatch=hatch, label=label)
            left += values
    ax.set_yticks(y, [short(n) for n in nodes], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("nJ per sample (upper bar SNN, hatched lower bar ANN)")
    ax.set_title(title or f"energy by node, preset {report['preset']['name']}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def conversion_error_png(errors: Sequence[dict], title: str = "") -> bytes:
    """PNG bar chart of each layer's mean |SNN rate − ANN activation| relative to its mean activation
    (``errors``: :meth:`eventsim.measure.layer_error.LayerError.to_dict` of each layer)."""
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.35 * len(errors)), dpi=120)
    names = [short(e["layer"]) for e in errors][::-1]
    ax.barh(names, [100 * (e["relative"] or 0.0) for e in errors][::-1], color="tab:red")
    ax.set_xlabel("mean |SNN rate·θ − ANN activation| / mean activation (%)")
    ax.set_title(title or "conversion error per layer")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def training_png(history: Sequence[Mapping], title: str = "") -> bytes:
    """PNG of a training run per epoch: the loss, the training (and validation) accuracy, and the
    fraction of active entries in the backward pass (rows of :meth:`eventsim.training.TrainResult.rows`)."""
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), dpi=120)
    axes[0].plot(epochs, [row["loss"] for row in history], marker="o")
    axes[0].set(xlabel="epoch", ylabel="training loss")
    axes[1].plot(epochs, [100 * row["train_accuracy"] for row in history], marker="o", label="train")
    if any(row["val_accuracy"] is not None for row in history):
        val = [np.nan if row["val_accuracy"] is None else 100 * row["val_accuracy"] for row in history]
        axes[1].plot(epochs, val, marker="s", label="validation")
    axes[1].set(xlabel="epoch", ylabel="accuracy (%)")
    axes[1].legend()
    layers = list(history[0]["active_by_layer"]) if history else []
    for layer in layers:
        axes[2].plot(epochs, [100 * row["active_by_layer"][layer] for row in history], marker=".", label=short(layer))
    axes[2].plot(epochs, [100 * row["active_fraction"] for row in history], "k--", label="all")
    axes[2].set(xlabel="epoch", ylabel="active entries in backward (%)", ylim=(0, None))
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return _png(fig)
