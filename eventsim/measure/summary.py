"""The run at a glance: accuracy and agreement with the ANN at chosen steps, spikes per layer,
synaptic events per node and speed — read from a report's data (:mod:`eventsim.measure.report`),
so what ``eventsim simulate`` prints and what its report holds are the same numbers."""

from __future__ import annotations


def run_summary(data: dict, steps: list[int] | None = None) -> dict:
    """A report's key figures at ``steps`` (those ≤ T; default: T alone), JSON-friendly.

    Keys: ``T``, ``samples``, ``settings``, ``wall_seconds``, ``steps``, ``agreement_with_ann`` (per
    step), with labels ``accuracy`` (per step) and ``ann_accuracy``; per neuron layer ``layers``,
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
    lines.append(f"{'step':>6s} {'SNN = ANN':>10s}" + (f" {'accuracy':>9s}" if labelled else ""))
    for i, s in enumerate(summary["steps"]):
        line = f"{s:6d} {summary['agreement_with_ann'][i]:10.2%}"
        lines.append(line + (f" {summary['accuracy'][i]:9.2%}" if labelled else ""))
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
