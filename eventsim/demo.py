"""The main job on the bundled example, as one library call (``eventsim demo`` prints it).

Import the bundled CNN (trained on scikit-learn's 8x8 digits), check it against onnxruntime, convert
it with four presets and compare their accuracy at every step, then look at ``opi``, ``ftbc`` and
``ttfs`` in detail — accuracy, latency, spikes, synaptic events, energy against the ANN under every
cost preset, per-layer conversion error — and write a JSON report with figures per preset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .conversion import convert
from .examples import example_info, example_model_path, load_example_data
from .io import atomic_write_text
from .ir import run_ann
from .measure.compare import compare, steps_to_reach, table_csv, table_json, table_text
from .measure.energy import energy_text, summary_text
from .measure.energy_presets import DEFAULT_PRESET, get_cost_table, with_every_preset
from .measure.latency import latency
from .measure.report import RASTER_SAMPLES, Report, build_report
from .simulation import simulate

#: Presets the demo compares, and those it looks at in detail.
COMPARED = ("baseline", "opi", "ftbc", "ttfs")
DETAILED = ("opi", "ftbc", "ttfs")


@dataclass
class DemoResult:
    """What :func:`run_demo` did: whether the import matched onnxruntime, everything it printed,
    the comparison table, the report per detailed preset and the files written."""

    passed: bool
    text: str
    table: dict
    reports: dict[str, Report]
    files: list[Path] = field(default_factory=list)


class _Output:
    """Collects the demo's text and passes each part on as it comes."""

    def __init__(self, echo: Callable[[str], None] | None) -> None:
        self.parts: list[str] = []
        self.echo = echo

    def __call__(self, text: str) -> None:
        self.parts.append(text)
        if self.echo is not None:
            self.echo(text)


def _detail(graph, data: dict, x, y, table: dict, preset: str, T: int | None, steps, say) -> tuple:
    """Convert with ``preset`` at its T, simulate with rasters, and build its report."""
    T = T or steps_to_reach(table, preset) or steps[-1]
    net = convert(graph, data["x_calib"], preset, T=T)
    if net.result_steps and T < net.result_steps:
        say(f"note: {preset} shows its full result from T = {net.result_steps} (its layers' windows); T = {T} is less")
    rec = simulate(
        net, x, T, encoding=net.required_encoding or "direct", raster_samples=range(min(len(x), RASTER_SAMPLES))
    )
    report = build_report(
        net, rec, x, y, presets=with_every_preset(get_cost_table(DEFAULT_PRESET)), compare_table=table
    )
    return rec, report


def _detail_table(rows: list, y, ann_pred) -> str:
    lines = [
        f"{'preset':8s} {'T':>3s} {'accuracy':>8s} {'decision':>8s} {'=ANN at':>8s} {'spikes':>8s} {'per neuron':>10s} "
        f"{'SOPs':>9s} {'ms/sample':>9s}"
    ]
    for preset, rec in rows:
        summary = latency(rec, y, ann_pred).summary()
        spikes = rec.spikes_per_sample.sum(axis=1).mean()
        lines.append(
            f"{preset:8s} {rec.T:3d} {rec.accuracy(y)[-1]:8.2%} {summary['decision_mean']:8.2f} "
            f"{summary['stable_ann_match_mean'] or float('nan'):8.2f} {spikes:8.0f} "
            f"{spikes / rec.neurons.sum():10.2f} {rec.sops_per_sample.sum(axis=1).mean():9.0f} "
            f"{1e3 * summary['seconds_per_sample']:9.3f}"
        )
    lines.append(
        "decision: mean step from which the prediction stays fixed; =ANN at: mean step from which it equals the ANN's"
    )
    return "\n".join(lines)


def _energy_and_error(reports: dict[str, Report], say) -> None:
    for preset, report in reports.items():
        say(
            f"\n== energy per sample of the {preset} network (T = {report.data['run']['T']}) against the ANN "
            "(exact counts x published costs)"
        )
        energies = list(report.energies.values())
        say(energy_text(energies) if preset == DETAILED[0] else summary_text(energies))
    say(f"\n== conversion error per layer ({DETAILED[0]}): mean |SNN rate x θ - ANN activation| / mean activation")
    for e in reports[DETAILED[0]].data["conversion_error"]:
        say(f"{e['layer'][-45:]:45s} {100 * (e['relative'] or 0):6.2f} %")


def _write(out: Path, graph, check, ann_accuracy: float, table: dict, reports: dict[str, Report]) -> list[Path]:
    files = [out / "graph.json", out / "verify.json", out / "compare.json", out / "compare.csv"]
    atomic_write_text(files[0], graph.to_json())
    atomic_write_text(files[1], json.dumps(dict(check.to_dict(), ann_accuracy=ann_accuracy), indent=2))
    atomic_write_text(files[2], table_json(table))
    atomic_write_text(files[3], table_csv(table))
    for preset, report in reports.items():
        files += report.write(out / preset)
    return files


def run_demo(
    out: str | Path = "eventsim-demo",
    T: int | None = None,
    steps: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    samples: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo (module docstring) and write its files into ``out``.

    Parameters
    ----------
    out : str or Path
        Directory for ``graph.json``, ``verify.json``, ``compare.json``/``.csv`` and one report folder
        per detailed preset.
    T : int, optional
        Steps of the detailed runs (default: per preset, the first step of the comparison from which
        it stays within 1 % of the ANN).
    steps : sequence of int
        Steps of the comparison.
    samples : int, optional
        Use only the first N test samples (default: all 300).
    echo : callable, optional
        Called with each part of the text as soon as it is ready.
    """
    from .importers.onnx import load_onnx, verify_onnx  # onnx is loaded only when it is needed

    say, steps = _Output(echo), sorted(int(s) for s in steps)
    path, info = example_model_path(), example_info()
    say(f"== model: {path.name} ({info.get('dataset', '')}, trained by {info.get('trained_by', '')})")
    graph = load_onnx(path)
    say(graph.summary())
    data = load_example_data()
    x, y = data["x_test"][:samples], data["y_test"][:samples]
    say(f"\n== verify against onnxruntime on {len(x)} test samples")
    check = verify_onnx(path, x=x)
    say(check.text())
    ann_pred = np.argmax(run_ann(graph, x), axis=1)
    ann_accuracy = float(np.mean(ann_pred == y))
    say(f"\n== ANN test accuracy (eventsim executor): {ann_accuracy:.2%}")
    say(
        "\n== accuracy (%) per preset and time step (one simulation per preset, auto engine, "
        "direct coding; ttfs: TTFS coding)"
    )
    table = compare(graph, data["x_calib"], x, y, list(COMPARED), steps)
    say(table_text(table))
    runs = {preset: _detail(graph, data, x, y, table, preset, T, steps, say) for preset in DETAILED}
    when = f"T = {T}" if T else "the first T of the comparison from which it stays within 1 % of the ANN"
    say(f"\n== {', '.join(DETAILED[:-1])} and {DETAILED[-1]} in detail, each at {when}")
    say(_detail_table([(preset, rec) for preset, (rec, _) in runs.items()], y, ann_pred))
    reports = {preset: report for preset, (_, report) in runs.items()}
    _energy_and_error(reports, say)
    files = _write(Path(out), graph, check, ann_accuracy, table, reports)
    say("")
    for preset in reports:
        written = [f.name for f in files if f.parent == Path(out) / preset]
        say(f"wrote {', '.join(written)} to {Path(out) / preset}")
    return DemoResult(check.passed, "\n".join(say.parts), table, reports, files)
