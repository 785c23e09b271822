"""The ``auto`` preset: choose a conversion recipe for a model and a T from its calibration data.

The calibration data are split once (seeded) into a *fit* part (75 %) and a *held-out* part (25 %,
at least :data:`MIN_HOLDOUT` samples when there are enough). Candidate recipes are calibrated on
the fit part and simulated at T on the held-out part; the candidate whose predictions at step T
agree best with the ANN's (with labels: whose accuracy is best, ties broken by agreement) wins, ties
then going to the smaller output error (the mean squared difference between the SNN's rate output
o(T)/T and the ANN's logits, relative to the logits' mean square: it still separates candidates
when all of them agree with the ANN on every held-out sample), to fewer spikes and then to the
simpler recipe (earlier in the search). The chosen recipe
is then calibrated again on *all* the calibration data: that is the network returned.

The search is pruned in two stages:

1. thresholds — per layer / per channel × {the model's bound (clip, QCFS) where a layer has one and
   the maximum activation elsewhere, 99.99th percentile, 99.9th percentile}, all with v0 = θ/2 and
   no FTBC (6 candidates; networks with identical thresholds are simulated once);
2. on the best threshold setting: v0 = θ/2 with FTBC at T, and optimised v0 without FTBC (2 more);
3. on the best so far: the same recipe with burst neurons of B = 2 and 4 spikes per step, and with
   signed neurons (3 more). Burst events carry several spikes and cost a multiplication each
   (:mod:`eventsim.snn.kinds.burst`); signed neurons spend spikes on taking others back
   (:mod:`eventsim.snn.kinds.signed`): such a candidate is chosen only when it is strictly better
   on the criterion itself (accuracy or agreement) than every IF candidate, never on a tie-break.

Options given by the caller for a searched setting (``threshold``, ``per_channel``, ``percentile``,
``v0``, ``ftbc``, ``burst``, ``kind``) fix that setting in every candidate. Only test data is never seen: the function
receives calibration data alone.
"""

from __future__ import annotations

import time

import numpy as np

from ..data import check_batch
from ..errors import DataError, OptionError
from ..ir.executor import run_ann
from ..ir.graph import Graph
from ..progress import Progress, Tracker
from ..simulation.api import simulate
from ..simulation.distributed import cluster_session, map_on_cluster
from ..snn.kinds import get_kind
from ..snn.network import SpikingNetwork
from .presets import DEFAULTS, resolve

#: Share of the calibration samples held out to score the candidates.
HOLDOUT_FRACTION = 0.25

#: Held-out samples at least (when the calibration set has twice as many).
MIN_HOLDOUT = 32

#: The settings the search chooses (the caller may fix any of them).
SEARCHED = ("threshold", "per_channel", "percentile", "v0", "ftbc", "burst", "kind")

#: Stage 1: threshold settings, as (threshold mode, percentile) — ``auto``: bound, else max.
THRESHOLDS = (("auto", None), ("percentile", 99.99), ("percentile", 99.9))

#: Stage 2: (v0, FTBC) tried on the best threshold setting, after (θ/2, no FTBC).
REFINEMENTS = (("half", True), ("optimized", False))

#: Stage 3: spikes per step B of burst neurons, and signed neurons, tried on the best recipe of
#: stages 1–2.
BURSTS = (2, 4)

#: The fixed preset whose options reproduce a candidate (``convert(graph, x, BASE_PRESET, T, **options)``).
BASE_PRESET = "opi"


def split_holdout(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the fit and held-out parts of ``n`` calibration samples (sorted, disjoint, seeded).

    The held-out part has ``ceil(HOLDOUT_FRACTION · n)`` samples, at least ``min(MIN_HOLDOUT, n // 2)``.
    """
    if n < 2:
        raise DataError(f"auto needs at least 2 calibration samples to hold some out, got {n}", "pass more samples")
    held = max(int(np.ceil(HOLDOUT_FRACTION * n)), min(MIN_HOLDOUT, n // 2))
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[held:]), np.sort(order[:held])


def _normalised(options: dict) -> dict:
    """A candidate's searched settings with the percentile only where it is used."""
    out = {key: options.get(key) for key in SEARCHED if key != "percentile"}
    if out["threshold"] == "percentile":
        out["percentile"] = float(
            DEFAULTS["percentile"] if options.get("percentile") is None else options["percentile"]
        )
    out["per_channel"] = bool(out["per_channel"])
    out["ftbc"] = bool(out["ftbc"])
    out["burst"] = None if out.get("burst") is None else int(out["burst"])  # None: IF neurons
    out["kind"] = None if out.get("kind") in (None, "if") else out["kind"]  # None: IF (or burst with B)
    return out


def _unique(candidates: list[dict], fixed: dict) -> list[dict]:
    """``candidates`` with the caller's fixed settings applied, duplicates dropped (order kept)."""
    out: list[dict] = []
    for candidate in candidates:
        candidate = _normalised({**candidate, **fixed})
        if candidate not in out:
            out.append(candidate)
    return out


def threshold_candidates(fixed: dict) -> list[dict]:
    """Stage 1: every threshold setting with v0 = θ/2 and no FTBC (unless fixed otherwise)."""
    return _unique(
        [
            {"threshold": mode, "percentile": q, "per_channel": per_channel, "v0": "half", "ftbc": False}
            for per_channel in (False, True)
            for mode, q in THRESHOLDS
        ],
        fixed,
    )


def refinement_candidates(best: dict, fixed: dict) -> list[dict]:
    """Stage 2: the best threshold setting with the other v0 and FTBC settings."""
    return _unique([{**best, "v0": v0, "ftbc": ftbc} for v0, ftbc in REFINEMENTS], fixed)


def neuron_candidates(best: dict, fixed: dict) -> list[dict]:
    """Stage 3: the best recipe with burst neurons of each B in :data:`BURSTS`, and with signed
    neurons; none when the caller fixed the neurons (``burst`` or ``kind``)."""
    if fixed.get("burst") is not None or fixed.get("kind") not in (None, "if"):
        return []
    return _unique([{**best, "burst": burst} for burst in BURSTS] + [{**best, "kind": "signed"}], fixed)


def _plain(options: dict) -> bool:
    """Whether a candidate has IF neurons."""
    return options.get("burst") is None and options.get("kind") is None


def describe(options: dict) -> str:
    """A candidate's short name, e.g. ``channel p99.9 v0=half +ftbc``."""
    statistic = "bound|max" if options["threshold"] == "auto" else options["threshold"]
    if options["threshold"] == "percentile":
        statistic = f"p{options['percentile']:g}"
    per = "channel" if options["per_channel"] else "layer"
    neurons = "" if options.get("burst") is None else f" burst {options['burst']}"
    neurons += "" if options.get("kind") is None else f" {options['kind']}"
    return f"{per} {statistic} v0={options['v0']}" + (" +ftbc" if options["ftbc"] else "") + neurons


def score(
    graph: Graph,
    fit_x: np.ndarray,
    held_x: np.ndarray,
    held_y: np.ndarray | None,
    ann_logits: np.ndarray,
    T: int,
    options: dict,
    base: dict,
    cache: dict,
) -> dict:
    """Calibrate one candidate on ``fit_x`` and score it on ``held_x`` at step ``T``.

    Returns
    -------
    dict
        ``name``, ``options`` (with :data:`BASE_PRESET`, what reproduces it), ``agreement`` with the
        ANN's argmax, ``accuracy`` (None without labels), ``output_error`` (the rate output o(T)/T
        against the ANN's logits: mean squared difference over their mean square),
        ``spikes_per_sample`` and ``seconds``.
    """
    from .recipe import convert

    start = time.perf_counter()
    net = convert(graph, fit_x, BASE_PRESET, T=T, **{**base, **options})
    key = net.fingerprint()
    if key not in cache:  # a candidate with the same network as an earlier one has its scores
        rec = simulate(net, held_x, T, batch_size=256)
        predictions = rec.predictions()[:, -1]
        rates = rec.outputs.reshape(len(held_x), rec.T, -1)[:, -1] / np.float32(T)
        cache[key] = {
            "agreement": float(np.mean(predictions == np.argmax(ann_logits, axis=1))),
            "output_error": float(np.mean((rates - ann_logits) ** 2) / max(float(np.mean(ann_logits**2)), 1e-12)),
            "accuracy": None if held_y is None else float(np.mean(predictions == held_y)),
            "spikes_per_sample": float(rec.spikes_per_sample.sum(axis=1).mean()),
        }
    record = {"name": describe(options), "preset": BASE_PRESET, "options": dict(options), **cache[key]}
    record["seconds"] = time.perf_counter() - start
    return record


def rank(record: dict, index: int) -> tuple:
    """Sort key, larger is better: accuracy (with labels), agreement, smaller output error, fewer
    spikes, earlier candidate."""
    accuracy = -1.0 if record["accuracy"] is None else record["accuracy"]
    return (accuracy, record["agreement"], -record["output_error"], -record["spikes_per_sample"], -index)


def _best(records: list[dict]) -> int:
    """Index of the best record."""
    return max(range(len(records)), key=lambda i: rank(records[i], i))


def _choose(records: list[dict]) -> int:
    """Index of the chosen record: the best, unless it has burst or signed neurons and the best IF
    candidate is as good on the criterion itself (accuracy, agreement): bursts cost a multiplication
    per event and signed neurons spikes to take others back, which a tie-break does not weigh."""
    best = _best(records)
    if _plain(records[best]["options"]):
        return best
    plain = [i for i, r in enumerate(records) if _plain(r["options"])]
    if not plain:  # the caller fixed the neurons
        return best
    alternative = max(plain, key=lambda i: rank(records[i], i))
    return best if rank(records[best], best)[:2] > rank(records[alternative], alternative)[:2] else alternative


def _check(graph: Graph, calib_x, calib_y, T, options: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """The checked calibration data and labels; refuses what ``auto`` cannot do."""
    resolve("auto", T, **options)
    kind = get_kind(options.get("kind") or "if")
    if kind.scheduled or kind.coding is not None:
        raise OptionError(
            f"preset 'auto' searches rate-coded recipes, not {kind.name} neurons", "use the bsnn or ttfs preset"
        )
    if calib_x is None:
        raise DataError("preset 'auto' needs calibration data", "pass calibration inputs (--calib FILE)")
    calib_x = check_batch(calib_x, graph.input_shape, "calibration data")
    if calib_y is not None:
        calib_y = np.asarray(calib_y)
        if calib_y.shape != (len(calib_x),):
            raise DataError(
                f"calibration labels must be one per calibration input ({len(calib_x)}), got shape {calib_y.shape}",
                "pass the labels of calib_x, or none to choose by agreement with the ANN",
            )
    return calib_x, calib_y


def _check_memory(graph: Graph, samples: int, held: int, T: int, options: dict, fixed: dict) -> None:
    """Refuse a search whose largest candidate would not fit in the memory budget, before any
    candidate runs: the costliest calibration any stage can try (FTBC and optimised v0, unless fixed
    off) on all the calibration data (the final conversion's), or the held-out simulation at T."""
    from ..simulation.api import simulation_parts
    from ..simulation.memory import require_memory
    from .memory import calibration_parts

    settings = resolve(BASE_PRESET, T, **options)
    settings["ftbc"] = bool(fixed.get("ftbc", True))
    settings["v0"] = fixed.get("v0", "optimized")
    parts = {f"{stage} calibration": count for stage, count in calibration_parts(graph, settings, T, samples).items()}
    sizes = [int(np.prod(node.shape)) for node in graph.activation_nodes()]
    simulation = simulation_parts(graph, sizes, T, "direct", held, 256, 0)
    parts["held-out simulation"] = sum(simulation.values())
    require_memory(
        f"preset 'auto' at T={T} on {samples} calibration samples ({held} held out)",
        parts,
        "use a smaller T (-T), fewer calibration samples, or smaller FTBC batches (--ftbc-batch-size)",
        need=max(parts.values()),
    )


def convert_auto(
    graph: Graph,
    calib_x: np.ndarray,
    T: int | None,
    calib_y: np.ndarray | None = None,
    progress: Progress = None,
    cluster: str | None = None,
    workers: int | None = None,
    **options,
) -> SpikingNetwork:
    """Choose a recipe by held-out agreement (or accuracy) at ``T`` and convert with it on all data.

    Parameters
    ----------
    graph : Graph
        The ANN.
    calib_x : numpy.ndarray
        Calibration inputs: split into a fit and a held-out part for the search, all of them for the
        final calibration.
    T : int
        The time steps the network is chosen and calibrated for (required).
    calib_y : numpy.ndarray, optional
        Labels of ``calib_x``: the candidates are then ranked by held-out accuracy first.
    progress : callable, optional
        Receives a line per candidate (and the calibration steps of the final conversion).
    cluster, workers : optional
        Score the candidates of each stage on a Dask cluster (``"local"`` or a scheduler's address;
        ``workers`` for a local one), one task per candidate: calibration and held-out simulation on
        the workers, the same scores as in this process. The final conversion runs here.
    **options
        Conversion options: the searched ones fix that setting, the others (``seed``, ``alpha``, ...)
        apply to every candidate.

    Returns
    -------
    SpikingNetwork
        ``meta["preset"]`` is ``auto``, ``meta["settings"]`` the chosen recipe's, and ``meta["auto"]``
        the search: criterion, split sizes and held-out indices, every candidate's scores, the choice.
    """
    from .recipe import convert

    calib_x, calib_y = _check(graph, calib_x, calib_y, T, options)
    fixed = {key: options[key] for key in SEARCHED if options.get(key) is not None}
    base = {key: value for key, value in options.items() if key not in SEARCHED and value is not None}
    fit, held = split_holdout(len(calib_x), int(options.get("seed") or 0))
    _check_memory(graph, len(calib_x), len(held), int(T), options, fixed)
    ann_logits = run_ann(graph, calib_x[held]).reshape(len(held), -1).astype(np.float32)
    held_y = None if calib_y is None else calib_y[held]
    args = (graph, calib_x[fit], calib_x[held], held_y, ann_logits, int(T))
    first = threshold_candidates(fixed)
    # candidates of every stage (stages 2 and 3 at most as many as they can have), and the final conversion
    tracker = Tracker(progress, "auto", len(first) + len(REFINEMENTS) + len(BURSTS) + 2)
    scored = None if progress is None else lambda line: tracker.step(line.removeprefix("auto "), result=True)
    scorer = _Scorer(args, base, scored)
    with cluster_session(cluster, workers) as scorer.cluster:
        records, sizes = _search(scorer, tracker, first, fixed)
    chosen = _choose(records)
    tracker.note(f"calibrating the chosen recipe ({records[chosen]['name']}) on all {len(calib_x)} samples")
    net = convert(graph, calib_x, BASE_PRESET, T=T, progress=progress, **{**base, **records[chosen]["options"]})
    tracker.step(f"chose {records[chosen]['name']}", result=True)
    net.meta["preset"] = "auto"
    net.meta["auto"] = {
        "T": int(T),
        "criterion": "accuracy, then agreement" if calib_y is not None else "agreement",
        "tie_break": "smaller output error, fewer spikes, then the earlier (simpler) candidate; "
        "burst and signed neurons never win a tie-break",
        "seed": int(options.get("seed") or 0),
        "fit_samples": len(fit),
        "holdout_samples": len(held),
        "holdout_indices": held.tolist(),
        "final": f"the chosen recipe calibrated on all {len(calib_x)} calibration samples",
        "stage_2": f"{sizes[0]} candidates",
        "stage_3": f"{sizes[1]} candidates (burst and signed neurons: chosen only if strictly better on the criterion)",
        "candidates": records,
        "chosen": chosen,
        "chosen_name": records[chosen]["name"],
    }
    if cluster is not None:
        net.meta["auto"]["cluster"] = {"cluster": cluster, "tasks_retried": scorer.retried}
    return net


def _search(scorer: _Scorer, tracker: Tracker, first: list[dict], fixed: dict) -> tuple[list[dict], tuple[int, int]]:
    """The three stages: thresholds, then refinements of the best, then its neurons (burst, signed);
    returns every candidate's record and the sizes of stages 2 and 3."""
    records: list[dict] = []
    scorer.stage(records, 1, first)
    best = records[_best(records)]
    tried = [r["options"] for r in records]
    refinements = [c for c in refinement_candidates(best["options"], fixed) if c not in tried]
    tracker.resize(len(records) + len(refinements) + len(neuron_candidates(best["options"], fixed)) + 1)
    scorer.stage(records, 2, refinements)
    tried = [r["options"] for r in records]
    bursts = [c for c in neuron_candidates(records[_best(records)]["options"], fixed) if c not in tried]
    tracker.resize(len(records) + len(bursts) + 1)
    scorer.stage(records, 3, bursts)
    return records, (len(refinements), len(bursts))


class _Scorer:
    """Scores the candidates of each stage: in this process (networks made twice scored once), or
    on the cluster at ``cluster`` (an address, set for the search), one task per candidate."""

    def __init__(self, args: tuple, base: dict, progress: Progress) -> None:
        self.args, self.base, self.progress = args, base, progress
        self.cluster: str | None = None
        self.cache: dict = {}
        self.retried = 0

    def stage(self, records: list, stage: int, candidates: list[dict]) -> None:
        """Score ``candidates`` (:func:`score`) and append their records to ``records``."""
        if self.cluster is None:
            scored = [score(*self.args, options, self.base, self.cache) for options in candidates]
        elif candidates:
            scored, retried = map_on_cluster(_score_task, (self.args, self.base), candidates, self.cluster)
            self.retried += retried
        else:
            scored = []
        for record in scored:
            records.append({**record, "stage": stage})
            if self.progress:
                self.progress(_line(records[-1], len(records)))


def _score_task(shared: tuple, options: dict) -> dict:
    """Run on a worker: :func:`score` of one candidate (``shared``: the search's data and base)."""
    args, base = shared
    return score(*args, options, base, {})


def _line(record: dict, number: int) -> str:
    """A progress line for one scored candidate."""
    accuracy = "" if record["accuracy"] is None else f", accuracy {record['accuracy']:.1%}"
    return (
        f"auto candidate {number} ({record['name']}): agreement {record['agreement']:.1%}{accuracy}, "
        f"{record['seconds']:.1f} s"
    )


def auto_table(record: dict) -> str:
    """The search of ``net.meta["auto"]`` as an aligned text table, the chosen candidate marked."""
    lines = [
        f"auto at T={record['T']}: {len(record['candidates'])} candidates calibrated on {record['fit_samples']} "
        f"samples, scored on {record['holdout_samples']} held out (criterion: {record['criterion']})",
        f"  {'candidate':32s} {'stage':>5s} {'agree %':>8s} {'acc %':>7s} {'out err':>8s} {'spikes':>10s} {'s':>6s}",
    ]
    for i, c in enumerate(record["candidates"]):
        accuracy = "—" if c["accuracy"] is None else f"{100 * c['accuracy']:.2f}"
        mark = "*" if i == record["chosen"] else " "
        lines.append(
            f"{mark} {c['name']:32s} {c['stage']:5d} {100 * c['agreement']:8.2f} {accuracy:>7s} "
            f"{c['output_error']:8.4f} {c['spikes_per_sample']:10.1f} {c['seconds']:6.1f}"
        )
    lines.append(f"stage 2: {record['stage_2']}")
    if "stage_3" in record:  # networks chosen before burst neurons were searched have no stage 3
        lines.append(f"stage 3: {record['stage_3']}")
    lines.append(f"chosen: {record['chosen_name']}; {record['final']}")
    return "\n".join(lines)
