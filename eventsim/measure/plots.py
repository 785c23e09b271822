"""Figures (matplotlib, headless ``Agg``): each function returns the PNG as bytes, so callers decide
where it goes (written atomically by reports, shown inline by notebooks)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np

from .counts import TERMS

matplotlib.use("Agg")
import matplotlib.colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


#: One colour per conversion preset, the same in every figure (compare plots, each report's figures).
PRESET_COLORS = {
    "baseline": "tab:gray",
    "robust": "tab:brown",
    "opi": "tab:blue",
    "opi-opt": "tab:cyan",
    "qcfs": "tab:olive",
    "ftbc": "tab:orange",
    "ftbc+finetune": "tab:red",
    "bsnn": "tab:pink",
    "ttfs": "tab:green",
    "auto": "tab:purple",
}


def preset_color(preset: str | None) -> str:
    """The colour of ``preset`` in every figure (:data:`PRESET_COLORS`); another name always gets the
    same colour of its own (from a hash of the name), none the default blue."""
    if preset is None:
        return "tab:blue"
    if preset in PRESET_COLORS:
        return PRESET_COLORS[preset]
    return matplotlib.colors.to_hex(plt.cm.tab20b(zlib.crc32(preset.encode()) % 20))


def _parts(name: str) -> list[str]:
    """A node name's scopes without the exporter's suffix and repeated scopes
    (``/3/body/body.0/Conv_output_0`` → ``3``, ``body.0``, ``Conv``)."""
    parts = [p for p in name.removesuffix("_output_0").strip("/").split("/") if p] or [name]
    return [p for p, after in zip(parts, parts[1:] + [""]) if not after.startswith(p + ".")]


def _fit(label: str, width: int) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def short(name: str, width: int = 24) -> str:
    """A node name for axis labels: exporter suffixes and leading scopes dropped, at most ``width``
    characters (``/features/features.4/Conv_output_0`` → ``features.4/Conv``)."""
    return _fit("/".join(_parts(name)[-2:]), width)


def short_names(names: Sequence[str], width: int = 28) -> list[str]:
    """Distinct axis labels for ``names``, in their order: each as :func:`short` as the others allow,
    with as many leading scopes as it takes to tell it from the rest (a ResNet's two
    ``body.0/Conv`` become ``3/body.0/Conv`` and ``4/body.0/Conv``). Labels that still clash (the same
    name twice, or the same last ``width`` characters) are numbered."""
    parts = [_parts(n) for n in names]
    depth = [min(2, len(p)) for p in parts]
    while True:
        labels = ["/".join(p[-d:]) for p, d in zip(parts, depth)]
        clashing = {label for label in labels if labels.count(label) > 1}
        grow = [i for i, label in enumerate(labels) if label in clashing and depth[i] < len(parts[i])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    out, seen = [], {}
    for label in labels:
        fitted = _fit(label, width)
        seen[fitted] = seen.get(fitted, 0) + 1
        out.append(fitted if seen[fitted] == 1 else f"{fitted} ({seen[fitted]})")
    return out


def accuracy_vs_steps_png(table: dict, title: str = "") -> bytes:
    """PNG of test accuracy against time steps, one line per preset, the ANN as a dashed line
    (``table`` from :func:`eventsim.measure.compare.compare`)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for preset, row in table["presets"].items():
        # a row measured at some steps only (fine-tuning: one network per T) has None at the others
        points = [(t, 100 * a) for t, a in zip(table["steps"], row["accuracy"]) if a is not None]
        ax.plot([t for t, _ in points], [a for _, a in points], marker="o", label=preset, color=preset_color(preset))
    return _accuracy_figure(fig, ax, table["ann_accuracy"], "time steps T", "test accuracy (%)", title)


def accuracy_per_step_png(
    curves: Mapping[str, Sequence[float]],
    ann_accuracy: float | None,
    title: str = "",
    styles: Mapping[str, Mapping] | None = None,
) -> bytes:
    """PNG of accuracy at every step t = 1..T of one or more runs, the ANN as a dashed line
    (``styles``: matplotlib line options per curve, e.g. a preset's colour)."""
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), 100 * np.asarray(curve), label=label, **(styles or {}).get(label, {}))
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


def firing_rates_png(
    layers: Sequence[str], rates: Sequence[float], title: str = "", color: str = "tab:orange"
) -> bytes:
    """PNG bar chart of the mean spikes per neuron per step of each neuron layer, first layer on top."""
    fig, ax = plt.subplots(figsize=(6, 1.4 + 0.35 * len(layers)), dpi=120)
    y = np.arange(len(layers))
    ax.barh(y, list(rates), color=color)
    ax.set_yticks(y, short_names(layers))
    ax.invert_yaxis()
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
        ticks.append(offset + layer["shown"] / 2)
        offset += layer["shown"] + 10
    ax.set_yticks(ticks, short_names(list(points)), fontsize=7)
    ax.invert_yaxis()  # first layer on top
    ax.set_xlabel("time step t")
    ax.set_ylabel("neurons of each layer (up to 400 shown)")
    ax.set_xlim(0.5, T + 0.5)
    ax.set_title(title or "spike raster")
    return _png(fig)


def spike_times_png(steps: Mapping[str, np.ndarray], T: int, title: str = "") -> bytes:
    """PNG of each layer's spike-time distribution: per layer, the share of its (sample, neuron)
    pairs whose first spike comes at each step, and how many never fire (``steps``:
    :meth:`eventsim.Recording.first_spike_steps`)."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    bins = np.arange(1, T + 2) - 0.5
    for k, ((name, times), label) in enumerate(zip(steps.items(), short_names(list(steps)))):
        fired = times[times > 0]
        share = np.histogram(fired, bins=bins)[0] / max(times.size, 1)
        silent = 100 * (1 - fired.size / max(times.size, 1))
        ax.step(
            np.arange(1, T + 1),
            100 * share,
            where="mid",
            color=f"C{k % 10}",
            label=f"{label} ({silent:.0f} % silent)",
        )
    ax.set(xlabel="step of the first spike", ylabel="% of (sample, neuron) pairs", xlim=(0.5, T + 0.5))
    ax.set_title(title or "spike times per layer")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


def latency_histogram_png(
    decision: np.ndarray,
    T: int,
    first_ann_match: np.ndarray | None = None,
    title: str = "",
    color: str = "tab:blue",
) -> bytes:
    """PNG histogram of per-sample decision times at steps 1..T (:class:`eventsim.Latency`), with
    the samples that never decided (``decision`` T + 1) as a separate hatched bar at "never", and the
    first agreement with the ANN as an outline."""
    decision = np.asarray(decision)
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=120)
    steps = np.arange(1, T + 1)
    never_at = T + 1 + max(1.0, 0.06 * T)  # a gap between the last step and "never"
    counts = np.bincount(np.clip(decision, 1, T + 1), minlength=T + 2)[1:]
    ax.bar(steps, counts[:-1], width=1.0, color=color, alpha=0.75, label="time to decision")
    never = int(counts[-1])
    label = f"never decided: {never} of {len(decision)}"
    ax.bar([never_at], [never], width=1.0, color="0.55", hatch="//", label=label)
    if first_ann_match is not None:
        match = np.bincount(np.clip(np.asarray(first_ann_match), 1, T + 1), minlength=T + 2)[1:]
        label = f"first step = ANN ({match[-1]} never)"
        ax.stairs(match[:-1], np.arange(0.5, T + 1.0), color="black", linewidth=1, label=label)
        ax.bar([never_at], [match[-1]], width=1.0, fill=False, edgecolor="black", linewidth=1)
    locator = matplotlib.ticker.MaxNLocator(8, integer=True, steps=[1, 2, 4, 5, 10])
    room = 0.07 * (never_at + 0.5)  # the last step's label must not run into "never"
    ticks = [int(t) for t in locator.tick_values(1, T) if 1 <= t <= T and never_at - t >= room] or [1]
    ax.set_xticks([*ticks, never_at], [*map(str, ticks), "never"])
    ax.set_xlim(0.5, never_at + 0.5)
    ax.set_xlabel(f"time step t (of T = {T})")
    ax.set_ylabel("samples")
    ax.set_title(title or "time to decision per sample")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def energy_breakdown_png(report: dict, title: str = "", order: Sequence[str] | None = None) -> bytes:
    """PNG of the energy per sample per node, SNN beside ANN, stacked by term
    (``report``: :meth:`eventsim.measure.energy.EnergyReport.to_dict`), one bar pair per node in graph
    order (``order``: the graph's node names; without it, the order of the two networks merged), each
    with a label of its own."""
    snn, ann = report["snn"]["by_node_pj"], report["ann"]["by_node_pj"]
    comparable = report["ann_over_snn"] is not None
    nodes = _merge_orders(list(snn), list(ann) if comparable else [])
    if order is not None:
        rank = {name: k for k, name in enumerate(order)}
        nodes.sort(key=lambda n: rank.get(n, len(rank)))
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
    ax.set_yticks(y, short_names(nodes), fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("nJ per sample (upper bar SNN, hatched lower bar ANN)")
    ax.set_title(title or f"energy by node, preset {report['preset']['name']}")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def _merge_orders(first: list[str], second: list[str]) -> list[str]:
    """The names of two lists in one order that keeps each list's own order where they agree: every
    name of ``second`` missing from ``first`` goes right after the name that precedes it in ``second``."""
    merged = list(first)
    for k, name in enumerate(second):
        if name not in merged:
            before = next((second[j] for j in range(k - 1, -1, -1) if second[j] in merged), None)
            merged.insert(0 if before is None else merged.index(before) + 1, name)
    return merged


def conversion_error_png(errors: Sequence[dict], title: str = "", color: str = "tab:red") -> bytes:
    """PNG bar chart of each layer's mean |SNN rate − ANN activation| relative to its mean activation
    (``errors``: :meth:`eventsim.measure.layer_error.LayerError.to_dict` of each layer), first on top."""
    fig, ax = plt.subplots(figsize=(6, 1.4 + 0.35 * len(errors)), dpi=120)
    y = np.arange(len(errors))
    ax.barh(y, [100 * (e["relative"] or 0.0) for e in errors], color=color)
    ax.set_yticks(y, short_names([e["layer"] for e in errors]))
    ax.invert_yaxis()
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
    for layer, label in zip(layers, short_names(layers)):
        axes[2].plot(epochs, [100 * row["active_by_layer"][layer] for row in history], marker=".", label=label)
    axes[2].plot(epochs, [100 * row["active_fraction"] for row in history], "k--", label="all")
    axes[2].set(xlabel="epoch", ylabel="active entries in backward (%)", ylim=(0, None))
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return _png(fig)
