"""The main job on the bundled example, as one library call (``eventsim demo`` prints it).

Import the bundled CNN (trained on scikit-learn's 8x8 digits), check it against onnxruntime, convert
it with four presets and compare their accuracy at every step — and ``ftbc`` fine-tuned a few epochs
at each small T on the calibration data (:func:`eventsim.finetune`) — then look at ``opi``, ``ftbc``,
``ttfs`` and the fine-tuned ``ftbc`` in detail — accuracy, latency, spikes, synaptic events, energy
against the ANN under every cost preset, per-layer conversion error — and write a JSON report with
figures per network.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .conversion import convert, resolve
from .conversion.memory import check_calibration_memory
from .examples import example_info, example_model_path, load_example_data
from .io import atomic_write_bytes, atomic_write_text
from .ir import run_ann
from .measure.compare import (
    FINETUNED,
    add_finetuned,
    compare,
    finetune_steps,
    finetuned_network,
    steps_to_reach,
    table_json,
    table_text,
)
from .measure.energy import energy_text, summary_text
from .measure.energy_presets import DEFAULT_PRESET, get_cost_table, with_every_preset
from .measure.latency import latency
from .measure.report import RASTER_SAMPLES, Report, build_report
from .measure.summary import compare_csv
from .simulation import simulate
from .simulation.api import simulation_parts
from .simulation.memory import require_memory

#: Presets the demo compares, and those it looks at in detail.
COMPARED = ("baseline", "opi", "ftbc", "ttfs")
DETAILED = ("opi", "ftbc", "ttfs")

#: How the demo fine-tunes ``ftbc``, and up to which T: one epoch keeps the demo quick (it is a
#: glimpse; docs/finetune.md has ten epochs on every bundled model).
FINETUNE_OPTIONS = {"epochs": 1, "batch_size": 64}
FINETUNE_UP_TO = 4


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
    return _run_and_report(net, x, y, T, table)


def _finetuned_detail(graph, data: dict, x, y, table: dict, nets: dict, T: int | None) -> tuple:
    """The fine-tuned ``ftbc`` at ``T`` (fine-tuned afresh if the comparison has no network at that T),
    else at its first fine-tuned T from which it stays within 1 % of the ANN, else at its largest."""
    T = T or steps_to_reach(table, FINETUNED) or max(nets)
    if T not in nets:
        nets[T] = finetuned_network(graph, data["x_calib"], data["y_calib"], T, FINETUNE_OPTIONS)[0].net
    return _run_and_report(nets[T], x, y, T, table)


def _check_detail_memory(graph, calib_x, samples: int, T: int) -> None:
    """Refuse a ``T`` whose detailed runs (the calibrations at T, a simulation with rasters) would
    not fit in memory, before any of the demo's work."""
    for preset in DETAILED:
        check_calibration_memory(graph, resolve(preset, T), T, len(calib_x), f"the demo's {preset} network")
    sizes = [int(np.prod(node.shape)) for node in graph.activation_nodes()]
    parts = simulation_parts(graph, sizes, T, "direct", samples, 64, min(samples, RASTER_SAMPLES))
    require_memory(f"the demo's runs of {samples} samples for T={T}", parts, "use a smaller -T")


def _run_and_report(net, x, y, T: int, table: dict) -> tuple:
    """Simulate ``net`` at ``T`` with rasters and build its report (with the comparison table)."""
    rec = simulate(
        net, x, T, encoding=net.required_encoding or "direct", raster_samples=range(min(len(x), RASTER_SAMPLES))
    )
    presets = with_every_preset(get_cost_table(DEFAULT_PRESET))
    report = build_report(net, rec, x, y, presets=presets, compare_table=table)
    return rec, report


def _detail_table(rows: list, y, ann_pred) -> str:
    lines = [
        f"{'preset':13s} {'T':>3s} {'accuracy':>8s} {'decision':>8s} {'never':>5s} {'=ANN at':>8s} {'spikes':>8s} "
        f"{'per neuron':>10s} {'SOPs':>9s} {'ms/sample':>9s}"
    ]
    for preset, rec in rows:
        summary = latency(rec, y, ann_pred).summary()
        spikes = rec.spikes_per_sample.sum(axis=1).mean()
        decision = float("nan") if summary["decision_mean"] is None else summary["decision_mean"]
        lines.append(
            f"{preset:13s} {rec.T:3d} {rec.accuracy(y)[-1]:8.2%} {decision:8.2f} {summary['never_decided']:5d} "
            f"{summary['stable_ann_match_mean'] or float('nan'):8.2f} {spikes:8.0f} "
            f"{spikes / rec.neurons.sum():10.2f} {rec.sops_per_sample.sum(axis=1).mean():9.0f} "
            f"{1e3 * summary['seconds_per_sample']:9.3f}"
        )
    lines.append(
        "decision: mean step from which the prediction stays fixed, over the samples that decided; never: samples\n"
        "still undecided at T (nothing from the input at the output, or no unique largest output); =ANN at: mean\n"
        "step from which it equals the ANN's"
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
    say("\n== energy per sample (nJ) of every detailed network and of the ANN, under every cost preset")
    say(_energy_side_by_side(reports))
    say(f"\n== conversion error per layer ({DETAILED[0]}): mean |SNN rate x θ - ANN activation| / mean activation")
    for e in reports[DETAILED[0]].data["conversion_error"]:
        say(f"{e['layer'][-45:]:45s} {100 * (e['relative'] or 0):6.2f} %")


def _energy_side_by_side(reports: dict[str, Report]) -> str:
    """One row per cost preset, one column per network (at its T), the ANN last ("n/a" where the
    preset does not price the ANN's multiply-accumulates)."""
    names = [f"{preset} (T={report.data['run']['T']})" for preset, report in reports.items()]
    width = max(len(name) for name in names) + 1
    lines = [f"{'energy preset':20s}" + "".join(f"{name:>{width}s}" for name in names) + f"{'ANN':>{width}s}"]
    first = next(iter(reports.values()))
    for table_name, energy in first.energies.items():
        cells = [report.energies[table_name].snn.total_pj / 1e3 for report in reports.values()]
        ann = f"{energy.ann.total_pj / 1e3:{width}.3f}" if energy.ann_comparable else f"{'n/a':>{width}s}"
        lines.append(f"{table_name:20s}" + "".join(f"{c:{width}.3f}" for c in cells) + ann)
    return "\n".join(lines)


def _write(
    out: Path, graph, check, ann_accuracy: float, table: dict, reports: dict[str, Report], model: str
) -> list[Path]:
    """The demo's files: the comparison (JSON, CSV in percent, one figure) at the top, a report per
    detailed network in a folder of its own."""
    from .measure.plots import accuracy_vs_steps_png

    files = [out / "graph.json", out / "verify.json", out / "compare.json", out / "compare.csv", out / "compare.png"]
    atomic_write_text(files[0], graph.to_json())
    atomic_write_text(files[1], json.dumps(dict(check.to_dict(), ann_accuracy=ann_accuracy), indent=2))
    atomic_write_text(files[2], table_json(table))
    atomic_write_text(files[3], compare_csv(table))
    atomic_write_bytes(files[4], accuracy_vs_steps_png(table, f"{model}: test accuracy per preset"))
    for preset, report in reports.items():
        files += report.write(out / preset)
    return files


def run_demo(
    out: str | Path = "eventsim-demo",
    T: int | None = None,
    steps: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    samples: int | None = None,
    echo: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo (module docstring) and write its files into ``out``.

    Parameters
    ----------
    out : str or Path
        Directory for ``graph.json``, ``verify.json``, ``compare.json``/``.csv`` (accuracy in %)/``.png``
        and one report folder per detailed network (``ftbc+finetune`` too).
    T : int, optional
        Steps of the detailed runs (default: per preset, the first step of the comparison from which
        it stays within 1 % of the ANN; for the fine-tuned ``ftbc`` the first such of its fine-tuned
        steps, else its largest). ``ftbc`` is fine-tuned (:data:`FINETUNE_OPTIONS`, calibration labels)
        at the steps ≤ :data:`FINETUNE_UP_TO` of the comparison, and at ``T`` if that is not one of them.
    steps : sequence of int
        Steps of the comparison.
    samples : int, optional
        Use only the first N test samples (default: all 300).
    echo : callable, optional
        Called with each part of the text as soon as it is ready.
    progress : callable, optional
        Receives the comparison's and the fine-tuning's progress lines (with the time left).
    """
    from .importers.onnx import load_onnx, verify_onnx  # onnx is loaded only when it is needed

    say, steps = _Output(echo), sorted(int(s) for s in steps)
    path, info = example_model_path(), example_info()
    say(f"== model: {path.name} ({info.get('dataset', '')}, trained by {info.get('trained_by', '')})")
    graph = load_onnx(path)
    say(graph.summary())
    data = load_example_data()
    x, y = data["x_test"][:samples], data["y_test"][:samples]
    if T is not None:  # the detailed runs at T: refused now, not after the comparison
        _check_detail_memory(graph, data["x_calib"], len(x), int(T))
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
    table = compare(graph, data["x_calib"], x, y, list(COMPARED), steps, progress=progress)
    tuned = finetune_steps(True, steps, FINETUNE_UP_TO)
    nets = add_finetuned(
        table, graph, data["x_calib"], x, y, tuned, calib_y=data["y_calib"], options=FINETUNE_OPTIONS, progress=progress
    )
    say(table_text(table))
    runs = {preset: _detail(graph, data, x, y, table, preset, T, steps, say) for preset in DETAILED}
    runs[FINETUNED] = _finetuned_detail(graph, data, x, y, table, nets, T)
    names = [*DETAILED, FINETUNED]
    when = (
        f"T = {T}"
        if T
        else f"the first T of the comparison from which it stays within 1 % of the ANN ({FINETUNED}: of its "
        "fine-tuned T, else its largest)"
    )
    say(f"\n== {', '.join(names[:-1])} and {names[-1]} in detail, each at {when}")
    say(_detail_table([(preset, rec) for preset, (rec, _) in runs.items()], y, ann_pred))
    reports = {preset: report for preset, (_, report) in runs.items()}
    _energy_and_error(reports, say)
    files = _write(Path(out), graph, check, ann_accuracy, table, reports, path.stem)
    say("")
    say(f"wrote {', '.join(f.name for f in files if f.parent == Path(out))} to {Path(out)}")
    for preset in reports:
        written = [f.name for f in files if f.parent == Path(out) / preset]
        say(f"wrote {', '.join(written)} to {Path(out) / preset}")
    return DemoResult(check.passed, "\n".join(say.parts), table, reports, files)
