"""The run report: every measurement of one simulation in one JSON document, plus its figures.

The document follows the schema in ``eventsim/data/report.schema.json`` (format "eventsim.report",
version 1, described in ``docs/measurements.md``): the run's parameters (network fingerprint, engine,
encoding, T, seed, versions), accuracy and agreement with the ANN at every step, latency, spikes and
synaptic events per layer, per-layer conversion error, operation counts and the energy estimate under
each requested cost table, and the data behind every figure. Two reports can be compared field by
field.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes, atomic_write_text
from ..ir.executor import run_ann
from ..simulation.recording import Recording
from ..snn.network import SpikingNetwork
from .energy import EnergyReport, energy_report
from .energy_presets import DEFAULT_PRESET, CostTable
from .latency import latency
from .layer_error import conversion_error
from .summary import run_summary, summary_text

FORMAT = "eventsim.report"
VERSION = 1

#: Samples whose rasters a report usually keeps (its raster plot and per-layer conversion error).
RASTER_SAMPLES = 32


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:  # pragma: no cover - always installed with eventsim
        return None


def _versions() -> dict:
    out = {name: _version(name) for name in ("eventsim", "numpy", "numba")}
    out["python"] = sys.version.split()[0]
    out["platform"] = platform.platform()
    return out


@dataclass
class Report:
    """A run report: ``data`` (the JSON document) and ``figures`` (file name → PNG bytes)."""

    data: dict
    figures: dict[str, bytes] = field(default_factory=dict)
    energies: dict[str, EnergyReport] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.data, indent=2)

    def summary(self, steps: list[int] | None = None) -> dict:
        """The run at a glance (see :func:`eventsim.measure.summary.run_summary`)."""
        return run_summary(self.data, steps)

    def summary_text(self, steps: list[int] | None = None) -> str:
        """:meth:`summary` as the table ``eventsim simulate`` prints."""
        return summary_text(self.summary(steps))

    def write(self, directory: str | Path) -> list[Path]:
        """Write ``report.json`` and the figures into ``directory`` (each file atomically).

        Returns
        -------
        list of Path
            The files written.
        """
        directory = Path(directory)
        written = [directory / "report.json"]
        atomic_write_text(written[0], self.to_json())
        for name, png in self.figures.items():
            atomic_write_bytes(directory / name, png)
            written.append(directory / name)
        return written


def _run_section(net: SpikingNetwork, recording: Recording) -> dict:
    """The run's parameters: network fingerprint and provenance, engine, coding, T, seed, versions."""
    settings = recording.settings
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "network_sha256": net.fingerprint(),
        "network_meta": net.meta,
        "T": recording.T,
        "samples": recording.samples,
        "engine": settings.get("engine"),
        "engine_choices": {k: v for k, v in settings.items() if k in ("samples_by_engine", "method", "rows_by_method")},
        "encoding": settings.get("encoding"),
        "seed": settings.get("seed"),
        "batch_size": settings.get("batch_size"),
        "bias_steps": settings.get("bias_steps"),
        "wall_seconds": recording.wall_seconds,
        "versions": _versions(),
    }


def _layer_rows(net: SpikingNetwork, recording: Recording) -> list[dict]:
    """Per neuron layer: neurons, kind, spikes per sample, firing rate, first spike, spikes per step."""
    rates = recording.firing_rates()
    spikes = recording.spikes_per_sample.mean(axis=0)
    first = None if recording.first_spike is None else recording.first_spike.mean(axis=0)
    return [
        {
            "name": name,
            "neurons": int(recording.neurons[k]),
            "kind": net.layers[name].kind,
            "spikes_per_sample": float(spikes[k]),
            "firing_rate": float(rates[k]),
            "first_spike_mean": None if first is None else float(first[k]),
            "spikes_per_step": (recording.spikes_per_step[k] / max(recording.samples, 1)).tolist(),
        }
        for k, name in enumerate(recording.layers)
    ]


def _synaptic_rows(recording: Recording) -> list[dict]:
    """Per node that counts synaptic events: events per sample, and per step."""
    return [
        {
            "name": name,
            "sops_per_sample": float(recording.sops_per_sample[:, k].mean()),
            "sops_per_step": (recording.sops_per_step[k] / max(recording.samples, 1)).tolist(),
        }
        for k, name in enumerate(recording.synaptic_nodes)
    ]


def build_report(
    net: SpikingNetwork,
    recording: Recording,
    x: np.ndarray,
    labels: np.ndarray | None = None,
    presets: tuple[str | CostTable, ...] = (DEFAULT_PRESET,),
    compare_table: dict | None = None,
    figures: bool = True,
) -> Report:
    """Everything measurable about one run, as a :class:`Report`.

    Parameters
    ----------
    net : SpikingNetwork
        The simulated network.
    recording : Recording
        Its recording; the conversion error and the raster need ``raster_samples`` in the run.
    x : numpy.ndarray
        The inputs simulated (for the ANN's predictions and activations).
    labels : numpy.ndarray, optional
        True classes, for accuracy.
    presets : tuple of str or CostTable
        Cost tables to estimate energy with; the first is the one the figures show (none: no energy).
    compare_table : dict, optional
        A :func:`eventsim.measure.compare.compare` table to include (its figure is drawn where the
        table is written, see :func:`eventsim.measure.plots.accuracy_vs_steps_png`).
    figures : bool
        Whether to draw the figures (they need at least one cost table).
    """
    x = np.asarray(x)
    ann = np.argmax(run_ann(net.graph, x).reshape(len(x), -1), axis=1)
    lat = latency(recording, labels, ann)
    energies = [energy_report(net, recording, p) for p in presets]
    raster_sample = min(recording.rasters) if recording.rasters else None
    points = recording.raster_points(raster_sample) if raster_sample is not None else None
    data = {
        "format": FORMAT,
        "version": VERSION,
        "run": _run_section(net, recording),
        "accuracy": {
            "ann": float(np.mean(ann == labels)) if labels is not None else None,
            "snn_per_step": None if labels is None else recording.accuracy(labels).tolist(),
            "agreement_with_ann_per_step": recording.agreement(ann).tolist(),
        },
        "latency": lat.summary(),
        "layers": _layer_rows(net, recording),
        "synaptic": _synaptic_rows(recording),
        "conversion_error": [e.to_dict() for e in conversion_error(net, recording, x)] if recording.rasters else [],
        "energy": {e.table.name: e.to_dict() for e in energies},
        "raster": None if points is None else {"sample": raster_sample, "layers": points},
        "compare": compare_table,
        "figures": [],
    }
    report = Report(data, energies={e.table.name: e for e in energies})
    if figures and energies:
        report.figures = _figures(net, data, recording, lat, energies[0])
        data["figures"] = list(report.figures)
    return report


def preset_name(net: SpikingNetwork) -> str | None:
    """The network's row name in comparisons: its preset, ``+finetune`` if it was fine-tuned (the
    fine-tuned ``ftbc`` is ``ftbc+finetune``, as in :func:`eventsim.measure.compare.add_finetuned`)."""
    meta = net.meta or {}
    if not meta.get("preset"):
        return None
    return f"{meta['preset']}+finetune" if meta.get("finetune") else str(meta["preset"])


def network_label(net: SpikingNetwork, T: int | None = None) -> str:
    """How figures name a network: its model's name (the ONNX file's stem, not its path), the preset
    and T (``mnist_resnet, opi, T = 16``)."""
    meta = net.meta or {}
    source = meta.get("source_model") or meta.get("source")
    parts = [Path(str(source)).stem] if source else []
    parts += [preset_name(net)] if preset_name(net) else []
    parts += [f"T = {T}"] if T is not None else []
    return ", ".join(parts)


def _figures(net: SpikingNetwork, data: dict, recording: Recording, lat, energy) -> dict[str, bytes]:
    """The report's figures; the network's preset has the same colour in each (and in compare plots).
    A comparison table's figure is drawn where the table is written (``eventsim compare``, the demo),
    not in every report that includes the table."""
    from . import plots  # matplotlib is loaded only when figures are drawn

    color = plots.preset_color(preset_name(net))
    label = network_label(net, recording.T)
    named = (lambda what: f"{what}\n{label}") if label else (lambda what: what)
    accuracy = data["accuracy"]
    curves = {"SNN = ANN (agreement)": accuracy["agreement_with_ann_per_step"]}
    if accuracy["snn_per_step"] is not None:
        curves = {"SNN accuracy": accuracy["snn_per_step"], **curves}
    curves["undecided (no answer yet)"] = (lat.undecided_per_step / max(recording.samples, 1)).tolist()
    styles = {
        "SNN accuracy": {"color": color},
        "SNN = ANN (agreement)": {"color": color, "linestyle": ":"},
        "undecided (no answer yet)": {"color": "0.55", "linestyle": "-."},
    }
    out = {
        "accuracy.png": plots.accuracy_per_step_png(curves, accuracy["ann"], named("accuracy at every step"), styles),
        "firing_rates.png": plots.firing_rates_png(
            recording.layers, recording.firing_rates(), named("firing rates"), color
        ),
        "latency.png": plots.latency_histogram_png(
            lat.decision, lat.T, lat.first_ann_match, named("time to decision per sample"), color
        ),
        "energy.png": plots.energy_breakdown_png(
            energy.to_dict(),
            named(f"energy by node, cost preset {energy.table.name}"),
            order=[node.name for node in net.graph],
        ),
    }
    if data["raster"] is not None:
        out["raster.png"] = plots.raster_png(
            data["raster"]["layers"], recording.T, named(f"spike raster, sample {data['raster']['sample']}")
        )
    if data["conversion_error"]:
        out["conversion_error.png"] = plots.conversion_error_png(
            data["conversion_error"], named("conversion error per layer"), color
        )
    return out
