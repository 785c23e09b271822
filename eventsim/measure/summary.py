"""The run at a glance: accuracy and agreement with the ANN at chosen steps, spikes per layer,
synaptic events per node and speed — read from a report's data (:mod:`eventsim.measure.report`),
so what ``eventsim simulate`` prints and what its report holds are the same numbers; and the
comparison table as CSV in percent, like every printed table."""

from __future__ import annotations

import csv
import io


def run_summary(data: dict, steps: list[int] | None = None) -> dict:
    """A report's key figures at ``steps`` (those ≤ T; default: T alone), JSON-friendly.

    Keys: ``T``, ``samples``, ``settings``, ``wall_seconds``, ``steps``, ``agreement_with_ann`` (per
    step), with labels ``accuracy`` (per step) and ``ann_accuracy`` — an undecided sample counts as
    wrong in both —, ``undecided`` (per step, the fraction of samples without an answer: see
    :meth:`eventsim.Recording.decided`),
    ``latency`` (time to decision: ``mean``, ``median`` over the samples that decided, ``never_decided``);
    per neuron layer ``layers``,
    ``neurons``, ``spikes_per_sample``, ``firing_rates``; per synaptic node ``synaptic_nodes``,
    ``synaptic_events_per_sample``.
    """
    run, accuracy = data["run"], data["accuracy"]
    T = run["T"]
    steps = [s for s in (steps or [T]) if s <= T] or [T]
    summary = {
        "T": T,
        "samples": run["samples"],
        "settings": {key: run[key] for key in ("engine", "encoding", "seed", "batch_size", "bias_steps")},
        "wall_seconds": run["wall_seconds"],
        "steps": steps,
        "agreement_with_ann": [accuracy["agreement_with_ann_per_step"][s - 1] for s in steps],
    }
    if accuracy["snn_per_step"] is not None:
        summary["accuracy"] = [accuracy["snn_per_step"][s - 1] for s in steps]
        summary["ann_accuracy"] = accuracy["ann"]
    latency = data["latency"]
    if latency.get("undecided_per_step") is not None:
        summary["undecided"] = [latency["undecided_per_step"][s - 1] / max(run["samples"], 1) for s in steps]
    summary["latency"] = {
        "mean": latency["decision_mean"],
        "median": latency["decision_median"],
        "never_decided": latency["never_decided"],
    }
    summary.update(
        {
            "layers": [layer["name"] for layer in data["layers"]],
            "neurons": [layer["neurons"] for layer in data["layers"]],
            "spikes_per_sample": [layer["spikes_per_sample"] for layer in data["layers"]],
            "firing_rates": [layer["firing_rate"] for layer in data["layers"]],
            "synaptic_nodes": [node["name"] for node in data["synaptic"]],
            "synaptic_events_per_sample": [node["sops_per_sample"] for node in data["synaptic"]],
        }
    )
    return summary


def summary_text(summary: dict) -> str:
    """The summary as aligned tables: accuracy per step, spikes per layer, events per node, speed."""
    lines = []
    labelled = "accuracy" in summary
    if labelled:
        lines.append(f"ANN accuracy: {summary['ann_accuracy']:.2%}")
    undecided = summary.get("undecided")
    lines.append(
        f"{'step':>6s} {'SNN = ANN':>10s}"
        + (f" {'accuracy':>9s}" if labelled else "")
        + (f" {'undecided':>9s}" if undecided else "")
    )
    for i, s in enumerate(summary["steps"]):
        line = f"{s:6d} {summary['agreement_with_ann'][i]:10.2%}"
        line += f" {summary['accuracy'][i]:9.2%}" if labelled else ""
        lines.append(line + (f" {undecided[i]:9.2%}" if undecided else ""))
    if undecided:
        lines.append(
            "undecided: nothing from the input has reached the output yet, or its top entries tie "
            "(counted as wrong in accuracy and SNN = ANN)"
        )
    lines.append(latency_line(summary["latency"], summary["samples"], summary["T"]))
    lines.append(f"\n{'neuron layer':45s} {'neurons':>8s} {'spikes/sample':>14s} {'rate/step':>10s}")
    for name, neurons, spikes, rate in zip(
        summary["layers"], summary["neurons"], summary["spikes_per_sample"], summary["firing_rates"]
    ):
        lines.append(f"{name[-45:]:45s} {neurons:8d} {spikes:14.1f} {rate:10.4f}")
    lines.append(f"\n{'synaptic layer':45s} {'events/sample':>14s}")
    for name, events in zip(summary["synaptic_nodes"], summary["synaptic_events_per_sample"]):
        lines.append(f"{name[-45:]:45s} {events:14.0f}")
    seconds, settings = summary["wall_seconds"], summary["settings"]
    lines.append(
        f"\n{summary['samples']} samples x {summary['T']} steps in {seconds:.2f} s "
        f"({summary['samples'] / max(seconds, 1e-9):.1f} samples/s, {settings['engine']} engine)"
    )
    if settings.get("bias_steps") and summary["T"] > settings["bias_steps"]:
        lines.append(
            f"note: temporal biases were calibrated for {settings['bias_steps']} steps; later steps run without them"
        )
    return "\n".join(lines)


def latency_line(latency: dict, samples: int, T: int) -> str:
    """The time to decision in one line: mean and median over the samples that decided, and how many
    never decided by T."""
    never = latency["never_decided"]
    if latency["mean"] is None:
        return f"time to decision: no sample decided by T = {T} ({never} of {samples} never decided)"
    return (
        f"time to decision: mean {latency['mean']:.2f} steps, median {latency['median']:.0f} "
        f"(of the {samples - never} samples that decided); {never} of {samples} never decided by T = {T}"
    )


def compare_csv(table: dict) -> str:
    """A :func:`eventsim.measure.compare.compare` table as CSV, accuracy in percent like the printed
    tables (two decimals; the header says so): one row per preset, one column per step (empty where a
    row has no value), the ANN last."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["preset"] + [f"accuracy (%) T={t}" for t in table["steps"]])
    for preset, row in table["presets"].items():
        writer.writerow([preset] + ["" if a is None else f"{100 * a:.2f}" for a in row["accuracy"]])
    writer.writerow(["ANN"] + [f"{100 * table['ann_accuracy']:.2f}"] * len(table["steps"]))
    return out.getvalue()
