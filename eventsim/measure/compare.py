"""Accuracy of several conversion presets at several time steps, on the same data; optionally with
``ftbc`` fine-tuned at the small T's (hybrid conversion, :func:`eventsim.finetune`)."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..conversion import convert, resolve
from ..errors import DataError, OptionError
from ..ir.executor import run_ann
from ..ir.graph import Graph
from ..progress import Tracker, sample_progress
from ..simulation.api import simulate
from ..simulation.distributed import cluster_session
from ..snn.network import SpikingNetwork

#: Presets whose calibration for T differs from their calibration for T' > T truncated to T
#: (OPI's optimised v0 is chosen for one T, ``auto`` chooses its recipe for one T): they are
#: converted and simulated once per T.
PER_T_PRESETS = ("opi-opt", "auto")

#: The row of ``ftbc`` converted and then fine-tuned at each T (one network per T).
FINETUNED = "ftbc+finetune"

#: With ``finetune=True``, the steps of the comparison up to this one are fine-tuned.
FINETUNE_MAX_T = 8

#: How the table's record names the labels the fine-tuning used.
LABEL_SOURCES = {
    "calib_y": "the calibration labels and the ANN's outputs",
    "ann": "the ANN's outputs on the calibration data (no labels)",
}


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
    finetune: bool | Sequence[int] | None = None,
    calib_y: np.ndarray | None = None,
    finetune_options: Mapping | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    **options,
) -> dict:
    """Test accuracy of every preset at every step in ``steps``, and optionally of ``ftbc`` fine-tuned.

    Each preset is converted once, for the largest T, and simulated once: accuracy at every t ≤ T
    comes from that one run. That is exact for FTBC too, because its bias for step t depends only on
    steps ≤ t. Presets in :data:`PER_T_PRESETS` are converted and simulated for each T (``auto``
    chooses its recipe per T on a held-out part of ``calib_x``, never on ``x``). TTFS networks
    always read their input with TTFS coding.

    With ``finetune``, a row :data:`FINETUNED` is added (see :func:`add_finetuned`): for each of its
    steps T, ``ftbc`` converted at T on ``calib_x`` and fine-tuned at T on ``calib_x``, distilled
    from the ANN — with ``calib_y`` as labels too, or from the ANN alone, so that fine-tuning needs
    no labels — then simulated at T on ``x``. The fine-tuning never sees ``x``/``y``.

    Parameters
    ----------
    graph : Graph
        The ANN.
    calib_x : numpy.ndarray
        Calibration inputs (and the fine-tuning's training inputs).
    x, y : numpy.ndarray
        Test inputs and labels.
    presets : sequence of str
        Conversion presets (:data:`~eventsim.conversion.presets.PRESETS`).
    steps : sequence of int
        The time steps of the table.
    engine, encoding, batch_size, cluster, workers :
        As in :func:`eventsim.simulate`; ``cluster="local"`` starts one cluster for the whole table.
    progress : callable, optional
        Receives :class:`~eventsim.progress.ProgressLine` s (``str``, with counts and the time left): a
        line as each conversion starts and one after each simulation (task ``compare``: one item per
        preset and T, weighted by T), the calibrations' lines (per layer), and per epoch and per T of
        fine-tuning.
    finetune : bool or sequence of int, optional
        The steps to fine-tune at; ``True``: the table's steps ≤ :data:`FINETUNE_MAX_T` (the smallest
        step if none is). Steps not in ``steps`` are added to the table.
    calib_y : numpy.ndarray, optional
        Labels of ``calib_x`` for the fine-tuning (default: none, the ANN's outputs alone) and for
        ``auto``'s choice (then by held-out accuracy; without labels by agreement with the ANN).
    finetune_options : mapping, optional
        Keyword arguments of :func:`eventsim.finetune` (``epochs``, ``lr``, ``thresholds``, ``seed``, ...).
    **options
        Conversion options overriding the presets' (also used for the fine-tuned ``ftbc``).

    Returns
    -------
    dict
        ``steps``, ``ann_accuracy``, and per preset ``accuracy`` (one value per step) and
        ``spikes_per_sample`` and ``spikes_per_neuron`` (at the largest T). The row :data:`FINETUNED`
        has None at the steps it was not fine-tuned at and records how in ``finetuned``.
    """
    tuned = finetune_steps(finetune, steps)
    steps = sorted({int(s) for s in steps} | set(tuned))
    for preset in [*presets, *(["ftbc"] if tuned else [])]:
        resolve(preset, steps[-1], **options)  # refuse a bad combination before any work
    check_memory(graph, presets, steps[-1], len(calib_x), (len(x), encoding, batch_size), options, tuned,
                 finetune_options)  # fmt: skip
    table = _empty_table(graph, x, y, steps, engine, encoding)
    runs = [(preset, T) for preset in presets for T in (steps if preset in PER_T_PRESETS else steps[-1:])]
    tracker = Tracker(progress, "compare", [T for _, T in runs] + finetune_weights(tuned, finetune_options, calib_x, x))
    with cluster_session(cluster, workers) as address:
        for preset in presets:
            labels = {"calib_y": calib_y} if preset == "auto" else {}
            table["presets"][preset] = _preset_row(
                table, graph, calib_x, x, y, preset, batch_size, (progress, tracker), {**options, **labels}, address
            )
        if tuned:
            add_finetuned(table, graph, calib_x, x, y, tuned, calib_y=calib_y, options=finetune_options,
                          batch_size=batch_size, progress=progress, conversion=options, cluster=address,
                          tracker=tracker)  # fmt: skip
    return table if cluster is None else {**table, "cluster": cluster}


def check_memory(
    graph: Graph, presets: Sequence[str], T: int, calibration: int, test: tuple[int, str, int], options: Mapping,
    tuned: Sequence[int] = (), finetune_options: Mapping | None = None,
) -> None:  # fmt: skip
    """Refuse a table whose largest run would not fit in the memory budget, before any of it runs: each
    preset's calibration on ``calibration`` samples at the largest ``T`` (``auto``: its search), the
    simulation at ``T`` of the test data (``test``: samples, encoding, batch size), and the fine-tuning
    at the largest fine-tuned step — the same estimates and refusal as the runs' own."""
    from ..conversion.auto import _check_memory as check_search
    from ..conversion.auto import split_holdout
    from ..conversion.memory import check_calibration_memory
    from ..simulation.api import simulation_parts
    from ..simulation.memory import require_memory
    from ..training.api import check_memory as check_training
    from ..training.finetune import finetune  # the function's own defaults (callers may wrap it)

    for preset in presets:
        if preset == "auto":
            fixed = {key: options[key] for key in ("threshold", "per_channel", "percentile", "v0", "ftbc", "burst",
                                                   "kind") if options.get(key) is not None}  # fmt: skip
            held = len(split_holdout(calibration, int(options.get("seed") or 0))[1])
            check_search(graph, calibration, held, T, dict(options), fixed)
        else:
            check_calibration_memory(graph, resolve(preset, T, **options), T, calibration, f"preset {preset!r}")
    samples, encoding, batch_size = test
    sizes = [int(np.prod(node.shape)) for node in graph.activation_nodes()]
    require_memory(
        f"simulating {samples} test samples for T={T}",
        simulation_parts(graph, sizes, T, encoding, samples, batch_size, 0),
        "use a smaller largest T (-T) or fewer test samples (--samples)",
    )
    if tuned:
        default = inspect.signature(finetune).parameters["batch_size"].default
        batch = int(dict(finetune_options or {}).get("batch_size", default))
        fix = "fine-tune at smaller steps (--finetune-steps) or with smaller batches (batch_size in finetune_options)"
        check_training(graph, max(tuned), batch, fix)


def _empty_table(graph: Graph, x: np.ndarray, y: np.ndarray, steps: list[int], engine: str, encoding: str) -> dict:
    """A table without rows: its steps, the ANN's accuracy and how the rows are simulated."""
    ann_accuracy = float(np.mean(np.argmax(run_ann(graph, x).reshape(len(x), -1), axis=1) == y))
    return {
        "steps": steps,
        "ann_accuracy": ann_accuracy,
        "engine": engine,
        "encoding": encoding,
        "samples": len(x),
        "presets": {},
    }


def finetune_weights(tuned: Sequence[int], options: Mapping | None, calib_x, x) -> list[float]:
    """The expected cost of each fine-tuned step of a table, in simulations of the test data at that
    T (for progress): an epoch on the calibration data costs about three (forward and backward)."""
    from ..training.finetune import finetune  # the function's own defaults (callers may wrap it)

    epochs = dict(options or {}).get("epochs", inspect.signature(finetune).parameters["epochs"].default)
    return [T * (1 + 3 * int(epochs) * len(calib_x) / max(1, len(x))) for T in sorted(set(tuned))]


def _preset_row(
    table: dict, graph: Graph, calib_x, x, y, preset: str, batch_size: int, progress: tuple, options: dict,
    cluster: str | None = None,
) -> dict:  # fmt: skip
    """One preset's accuracy at every step of ``table`` and its spikes at the largest (for ``auto``
    also ``auto_choices``: the recipe it chose at each T). ``progress``: the caller's callback (for
    the calibration's lines) and the table's tracker (a step per conversion and simulation)."""
    progress, tracker = progress
    steps = table["steps"]
    runs = [(t, t) for t in steps] if preset in PER_T_PRESETS else [(steps[-1], None)]
    accuracy, spikes, per_neuron, choices = {}, 0.0, 0.0, {}
    for T, only in runs:
        tracker.note(f"{preset}: converting for T={T}")
        net = convert(graph, calib_x, preset, T=T, progress=progress, cluster=cluster, **options)
        if "auto" in net.meta:
            choices[T] = net.meta["auto"]["chosen_name"]
        coding = net.required_encoding or table["encoding"]
        rec = simulate(net, x, T, engine=table["engine"], encoding=coding, batch_size=batch_size, cluster=cluster,
                       progress=sample_progress(progress, f"simulate {preset} (T={T})", len(x)))  # fmt: skip
        curve = rec.accuracy(y)
        for t in steps if only is None else [only]:
            accuracy[t] = float(curve[t - 1])
        spikes = float(rec.spikes_per_sample.sum(axis=1).mean())
        per_neuron = spikes / max(float(rec.neurons.sum()), 1.0)  # a network without neurons: 0
        tracker.step(f"{preset}: simulated {len(x)} samples for T={T}, accuracy {curve[T - 1]:.2%}", result=True)
    row = {"accuracy": [accuracy[t] for t in steps], "spikes_per_sample": spikes, "spikes_per_neuron": per_neuron}
    return {**row, "auto_choices": choices} if choices else row


def finetune_steps(
    finetune: bool | Sequence[int] | None, steps: Sequence[int], max_T: int = FINETUNE_MAX_T
) -> list[int]:
    """The steps ``compare(finetune=...)`` fine-tunes at: none for None/False, the steps ≤ ``max_T``
    (or the smallest) for True, else the given ones (positive integers)."""
    if finetune is None or finetune is False:
        return []
    if finetune is True:
        steps = sorted({int(s) for s in steps})
        return [s for s in steps if s <= max_T] or steps[:1]
    tuned = sorted({int(t) for t in finetune})
    if tuned and tuned[0] < 1:
        raise OptionError(f"fine-tuning steps must be positive, got {tuned}")
    return tuned


def finetune_labels(calib_x: np.ndarray, calib_y: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """The fine-tuning's labels (checked: one per calibration input) and the source of its targets
    (a key of :data:`LABEL_SOURCES`); without labels the ANN, the teacher, supplies them."""
    if calib_y is None:
        return None, "ann"
    calib_y = np.asarray(calib_y)
    if calib_y.shape != (len(calib_x),):
        raise DataError(
            f"calibration labels must be one per calibration input ({len(calib_x)}), got shape {calib_y.shape}",
            "pass the labels of calib_x, or none to fine-tune on the ANN's decisions",
        )
    return calib_y, "calib_y"


def finetuned_network(
    graph: Graph,
    calib_x: np.ndarray,
    labels: np.ndarray | None,
    T: int,
    options: Mapping | None = None,
    conversion: Mapping | None = None,
    progress: Callable[[str], None] | None = None,
    encoding: str = "direct",
):
    """``ftbc`` converted at ``T`` on ``calib_x``, then fine-tuned at ``T`` on ``calib_x`` and ``labels``
    (None: the ANN's outputs alone) with :func:`eventsim.finetune` and ``options``: by default
    distilled from ``graph`` and with the network's own input coding (else ``encoding``).

    Returns
    -------
    TrainResult
        Of :func:`eventsim.finetune` (``.net``, ``.history``).
    float
        Seconds of fine-tuning (the conversion not included).
    """
    from ..training import finetune

    net = convert(graph, calib_x, "ftbc", T=T, **dict(conversion or {}))
    options = dict(options or {})
    options.setdefault("encoding", net.required_encoding or encoding)
    options.setdefault("teacher", graph)
    if progress is not None:
        options.setdefault("progress", progress)  # lines of the task "fine-tuning", epoch by epoch
    start = time.perf_counter()
    result = finetune(net, calib_x, labels, T, **options)
    return result, time.perf_counter() - start


def add_finetuned(
    table: dict,
    graph: Graph,
    calib_x: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    steps: Sequence[int],
    calib_y: np.ndarray | None = None,
    options: Mapping | None = None,
    batch_size: int = 64,
    progress: Callable[[str], None] | None = None,
    conversion: Mapping | None = None,
    cluster: str | None = None,
    tracker: Tracker | None = None,
) -> dict[int, SpikingNetwork]:
    """Add the row :data:`FINETUNED` to a :func:`compare` table: for each T of ``steps``, ``ftbc``
    converted at T and fine-tuned at T on the calibration data (:func:`finetuned_network`: distilled
    from the ANN, with the labels ``calib_y`` if given), then simulated at T on ``x``.

    The row holds the accuracy at its steps (None at the table's other steps), spikes per sample and
    per neuron at its largest step, and ``finetuned``: the labels' source, the options, the seconds
    of fine-tuning, and per T its accuracy, spikes, epochs, seconds and the network's
    ``meta["finetune"]`` record. ``cluster``: a Dask scheduler's address to simulate on (the
    fine-tuning itself runs here). ``progress`` receives the fine-tuning's lines and a line per T,
    counted by ``tracker`` (the table's, when :func:`compare` adds the row; else one of its own).

    Returns
    -------
    dict
        The fine-tuned networks by T.
    """
    steps = sorted({int(t) for t in steps})
    missing = [t for t in steps if t not in table["steps"]]
    if missing:
        raise OptionError(f"fine-tuning steps {missing} are not steps of the table {table['steps']}")
    labels, source = finetune_labels(calib_x, calib_y)
    tracker = tracker or Tracker(progress, FINETUNED, finetune_weights(steps, options, calib_x, x))
    runs, nets = [], {}
    for T in steps:
        tracker.note(f"{FINETUNED}: fine-tuning at T={T} on {len(calib_x)} samples, labels: {LABEL_SOURCES[source]}")
        result, seconds = finetuned_network(graph, calib_x, labels, T, options, conversion, progress, table["encoding"])
        nets[T] = result.net
        runs.append(_finetuned_run(table, result, seconds, x, y, T, batch_size, cluster))
        tracker.step(
            f"{FINETUNED} T={T}: {_epochs([runs[-1]['epochs']])} of fine-tuning in {seconds:.1f} s on "
            f"{len(calib_x)} calibration samples ({LABEL_SOURCES[source]}); test accuracy {runs[-1]['accuracy']:.2%}",
            result=True,
        )
    by_T = {run["T"]: run for run in runs}
    table["presets"][FINETUNED] = {
        "accuracy": [by_T[t]["accuracy"] if t in by_T else None for t in table["steps"]],
        "spikes_per_sample": runs[-1]["spikes_per_sample"],
        "spikes_per_neuron": runs[-1]["spikes_per_neuron"],
        "finetuned": {
            "steps": steps,
            "labels": source,
            "samples": len(calib_x),
            "options": _jsonable(options or {}),
            "seconds": sum(run["seconds"] for run in runs),
            "runs": runs,
        },
    }
    return nets


def _finetuned_run(
    table: dict, result, seconds: float, x, y, T: int, batch_size: int, cluster: str | None = None
) -> dict:
    """Simulate a fine-tuned network on the test data at ``T``: its record in the table."""
    net = result.net
    coding = net.meta.get("finetune", {}).get("encoding") or net.required_encoding or table["encoding"]
    rec = simulate(net, x, T, engine=table["engine"], encoding=coding, batch_size=batch_size, cluster=cluster)
    spikes = float(rec.spikes_per_sample.sum(axis=1).mean())
    return {
        "T": T,
        "accuracy": float(rec.accuracy(y)[-1]),
        "spikes_per_sample": spikes,
        "spikes_per_neuron": spikes / max(float(rec.neurons.sum()), 1.0),
        "epochs": int(result.history[-1].epoch) if result.history else 0,
        "seconds": seconds,
        "meta": _jsonable(net.meta.get("finetune", {})),
    }


def _jsonable(value):
    """``value`` for the table's JSON: numbers, strings, flags, lists and mappings of them as they are,
    anything else (an estimator, arrays, a graph, a callable) by a short text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and len(value) <= 1000:
        return [_jsonable(v) for v in value]
    text = str(value)
    return text if len(text) <= 80 and "\n" not in text else type(value).__name__


def steps_to_reach(table: dict, preset: str, margin: float = 0.01) -> int | None:
    """The smallest step of ``table`` from which ``preset``'s accuracy stays within ``margin`` of the
    ANN's at every larger step of the table that has a value (a fine-tuned row has None at the steps it
    was not fine-tuned at); None if it is not within at the largest such step, or has no values."""
    found = None
    for t, a in reversed(list(zip(table["steps"], table["presets"][preset]["accuracy"]))):
        if a is None:
            continue
        if a < table["ann_accuracy"] - margin:
            break
        found = t
    return found


def table_text(table: dict) -> str:
    """The comparison as an aligned text table (accuracy in %, "—" where a row has no value; spikes per
    neuron per sample at the largest T, at its largest step for the fine-tuned row, which is then
    described below the table)."""
    steps = table["steps"]
    width = max([10, *(len(p) for p in table["presets"])])
    lines = [f"{'preset':{width}s} " + " ".join(f"{'T=' + str(t):>7s}" for t in steps) + "  spikes/neuron"]
    for preset, row in table["presets"].items():
        per_neuron = f"  {row['spikes_per_neuron']:13.2f}" if "spikes_per_neuron" in row else ""
        if "finetuned" in row:
            per_neuron += f" (T={row['finetuned']['steps'][-1]})"
        cells = " ".join(f"{'—':>7s}" if a is None else f"{100 * a:7.2f}" for a in row["accuracy"])
        lines.append(f"{preset:{width}s} {cells}{per_neuron}")
    lines.append(f"{'ANN':{width}s} {100 * table['ann_accuracy']:7.2f}")
    for preset, row in table["presets"].items():
        if "finetuned" in row:
            lines.append(_finetuned_note(preset, row["finetuned"]))
    return "\n".join(lines)


def _finetuned_note(preset: str, record: dict) -> str:
    """How the fine-tuned row was made, in two lines."""
    epochs = _epochs(sorted({run["epochs"] for run in record["runs"]}))
    seconds = ", ".join(f"T={run['T']} {run['seconds']:.1f} s" for run in record["runs"])
    return (
        f"{preset}: ftbc converted at each T and fine-tuned {epochs} at that T on {record['samples']} "
        f"calibration samples,\n  labels: {LABEL_SOURCES[record['labels']]} (never the test data); {seconds}"
    )


def _epochs(counts: list[int]) -> str:
    return "/".join(map(str, counts)) + (" epoch" if counts == [1] else " epochs")


def table_json(table: dict) -> str:
    return json.dumps(table, indent=2)
