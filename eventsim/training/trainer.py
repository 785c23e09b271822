"""The training loop: batches, epochs, an optimiser, progress, checkpoints and a resumable run.

A run is a pure function of (network, data, settings, seed): the order of the samples in epoch e
comes from ``default_rng([seed, e])``, the estimator's draws of batch k of epoch e from a seed made
of (estimator seed, e, k), a rate coding's spikes likewise; so a run resumed from a checkpoint
takes the same steps as one that never stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import DataError
from ..progress import Tracker
from ..snn.network import SpikingNetwork
from .backward import Gradients, backward, spike_count_penalty
from .estimators import Estimator
from .forward import forward
from .losses import LOSSES, output_loss, predictions
from .optimizers import Optimizer

#: Learning-rate schedules over a run (:func:`lr_factor`).
SCHEDULES = ("constant", "cosine")


@dataclass
class TrainSettings:
    """How to train (see :func:`eventsim.train` for each field)."""

    T: int
    encoding: str = "direct"
    loss: str = "sum"
    epochs: int = 1
    batch_size: int = 64
    backward: str = "sparse"
    detach_reset: bool = True
    spike_penalty: float = 0.0
    learn_decoding: bool = False
    seed: int = 0
    neuron_params: tuple[str, ...] = ()
    #: The learning rate over the run: ``constant``, or ``cosine`` (:func:`lr_factor`).
    schedule: str = "constant"
    #: Weight of the soft-target loss against a teacher's logits (0: labels only, 1: teacher only).
    distill: float = 0.0
    #: The soft-target loss's temperature.
    temperature: float = 1.0
    #: The unit a parameter trains in, by its name in the optimiser (``node/W``,
    #: ``layer/<name>/threshold``, ...): the optimiser steps p = value / scale. A converted network's
    #: thresholds live on a scale of several units and its weights on one of a few hundredths: one
    #: learning rate in units of each leaves neither frozen nor overshooting.
    scales: dict[str, float] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse settings that cannot work, with the fix."""
        for key in ("T", "epochs", "batch_size"):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a whole number ≥ 1, got {value!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        if self.backward not in ("sparse", "dense"):
            raise ValueError(f"backward must be 'sparse' or 'dense', got {self.backward!r}")
        if not (np.isfinite(self.spike_penalty) and self.spike_penalty >= 0):
            raise ValueError(f"the spike penalty must be ≥ 0, got {self.spike_penalty!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; use one of {', '.join(SCHEDULES)}")
        if not 0 <= self.distill <= 1:
            raise ValueError(f"the distillation weight must lie in [0, 1], got {self.distill!r}")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"the temperature must be a positive number, got {self.temperature!r}")
        from .neuron_grads import NEURON_PARAMS

        self.neuron_params = tuple(self.neuron_params)
        unknown = set(self.neuron_params) - set(NEURON_PARAMS)
        if unknown:
            raise ValueError(f"unknown neuron parameters {sorted(unknown)}; trainable: {', '.join(NEURON_PARAMS)}")


@dataclass
class EpochRecord:
    """What one epoch did: mean training loss, accuracies, the fraction of active entries (overall and
    per layer), and the seconds its training took (forward and backward apart; validation not
    included)."""

    epoch: int
    loss: float
    train_accuracy: float
    val_accuracy: float | None
    active_fraction: float
    active_by_layer: dict[str, float]
    seconds: float
    forward_seconds: float
    backward_seconds: float


@dataclass
class TrainState:
    """A run in progress: the network, the optimiser and the epochs done (what a checkpoint holds)."""

    net: SpikingNetwork
    optimizer: Optimizer
    settings: TrainSettings
    estimator: Estimator
    history: list[EpochRecord] = field(default_factory=list)
    #: Room for active entries per sample and layer, remembered from batch to batch.
    capacity: dict[str, int] = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        return len(self.history)


def trainable(net: SpikingNetwork) -> dict[str, np.ndarray]:
    """The arrays training changes, by ``node/param``: the weights and biases of weighted nodes."""
    params = {}
    for node in net.graph.nodes:
        if node.spec.trainable_params:
            for key in node.spec.trainable_params:
                node.params[key] = np.ascontiguousarray(node.params[key], np.float32)
                params[f"{node.name}/{key}"] = node.params[key]
    return params


def batch_seed(*parts: int) -> int:
    """A 63-bit seed from integers (estimator draws, rate coding of one batch)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """The factor of the learning rate at optimiser step ``step`` (from 0) of a run of ``steps``.

    ``constant``: 1. ``cosine``: a linear warm-up over the first tenth of the steps (Adam's first
    steps move every parameter by about lr at once), then a cosine decay towards 0 at the end.
    """
    if schedule == "constant":
        return 1.0
    warmup = max(1, steps // 10)
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def train_step(
    state: TrainState,
    x: np.ndarray,
    y: np.ndarray,
    epoch: int,
    batch: int,
    soft: np.ndarray | None = None,
    lr_scale: float = 1.0,
) -> dict:
    """Forward, loss, backward and one optimiser step on a batch; returns its statistics.

    ``soft`` holds a teacher's logits for the batch (N, K) when the settings distill; the step's
    learning rate is the optimiser's times ``lr_scale``.

    The sparse pass runs Numba kernels between BLAS products, so it runs with BLAS on one thread
    and its products in parts on all cores (BLAS's idle workers would otherwise spin on the cores
    the next kernel needs); the dense reference is NumPy alone and keeps BLAS's own threads."""
    from ..simulation.threads import single_threaded_blas

    with single_threaded_blas() if state.settings.backward == "sparse" else nullcontext():
        return _step(state, x, y, epoch, batch, soft, lr_scale)


def _step(
    state: TrainState, x: np.ndarray, y: np.ndarray, epoch: int, batch: int, soft: np.ndarray | None, lr_scale: float
) -> dict:
    s, net = state.settings, state.net
    t0 = time.perf_counter()
    tape = forward(
        net, x, s.T, state.estimator, encoding=s.encoding, sparse=s.backward == "sparse",
        noise_seed=batch_seed(state.estimator.seed, epoch, batch), coding_seed=batch_seed(s.seed, epoch, batch),
        capacity=state.capacity,
    )  # fmt: skip
    loss, grad_output = output_loss(tape.output, y, s.loss, soft=soft, distill=s.distill, temperature=s.temperature)
    spike_grads = None
    if s.spike_penalty:
        penalty, spike_grads = spike_count_penalty(tape, s.spike_penalty)
        loss += penalty
    t1 = time.perf_counter()
    grads = backward(
        tape, grad_output, state.estimator, detach_reset=s.detach_reset, spike_grads=spike_grads,
        neuron_params=s.neuron_params,
    )  # fmt: skip
    _apply(state, grads, lr_scale)
    t2 = time.perf_counter()
    return {
        "loss": loss,
        "correct": int(np.sum(predictions(tape.output) == y)),
        "active": grads.active,
        "entries": grads.entries,
        "forward": t1 - t0,
        "backward": t2 - t1,
    }


def _apply(state: TrainState, grads: Gradients, lr_scale: float) -> None:
    """One optimiser step on the weights (and the decoding weights when they are learned), each
    parameter in its unit (``settings.scales``), at the optimiser's learning rate × ``lr_scale``."""
    params = trainable(state.net)
    update = {f"{node}/{key}": g for (node, key), g in grads.params.items() if f"{node}/{key}" in params}
    net = state.net
    if state.settings.learn_decoding and grads.decode_weights is not None:
        if net.decode_weights is None:
            net.decode_weights = net.output_weights(state.settings.T)[1].copy()
        params["decode_weights"] = net.decode_weights
        update["decode_weights"] = grads.decode_weights[: len(net.decode_weights)]
    for name, own in grads.layers.items():  # thresholds, initial potentials, temporal biases
        layer = net.layers[name]
        for key, g in own.items():
            params[f"layer/{name}/{key}"] = getattr(layer, key)
            update[f"layer/{name}/{key}"] = g
    scaled = {key: np.float32(state.settings.scales[key]) for key in update if key in state.settings.scales}
    targets = {key: params[key] for key in scaled}
    for key, scale in scaled.items():  # p = value / scale, whose gradient is scale · g
        params[key] = np.array(targets[key] / scale, np.float32)
        update[key] = update[key] * scale
    base = state.optimizer.lr
    state.optimizer.lr = base * lr_scale
    try:
        state.optimizer.step(params, update)
    finally:
        state.optimizer.lr = base
    for key, scale in scaled.items():
        targets[key][...] = params[key] * scale
    for layer in net.layers.values():  # a threshold must stay positive (spikes carry it)
        np.maximum(layer.threshold, np.float32(1e-4), out=layer.threshold)


def run_epoch(
    state: TrainState,
    x: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    evaluate: Callable[[SpikingNetwork, np.ndarray, np.ndarray], float],
    tracker: Tracker | None = None,
    soft: np.ndarray | None = None,
) -> EpochRecord:
    """One epoch over ``x`` in the run's order; appends its record to the history.

    ``tracker`` counts the run's batches (:func:`epoch_tracker`) and tells its callback a line at
    every tenth of an epoch of 20 batches or more. ``soft``: a teacher's logits for every sample of
    ``x`` (N, K), when the settings distill."""
    tracker = tracker or Tracker(None, "training", 0)
    s, epoch = state.settings, state.epochs_done
    order = np.random.default_rng([s.seed, epoch]).permutation(len(x))
    start = time.perf_counter()
    totals = {"loss": 0.0, "correct": 0, "forward": 0.0, "backward": 0.0}
    active: dict[str, int] = {}
    entries: dict[str, int] = {}
    batches = range(0, len(x), s.batch_size)
    for k, lo in enumerate(batches):
        idx = order[lo : lo + s.batch_size]
        scale = lr_factor(s.schedule, epoch * len(batches) + k, s.epochs * len(batches))
        stats = train_step(state, x[idx], y[idx], epoch, k, None if soft is None else soft[idx], scale)
        if not np.isfinite(stats["loss"]):
            raise DataError(
                f"the loss became {stats['loss']} in epoch {epoch + 1}, batch {k + 1}",
                "lower the learning rate or the thresholds' scale",
            )
        totals["loss"] += stats["loss"] * len(idx)
        for key in ("correct", "forward", "backward"):
            totals[key] += stats[key]
        for name in stats["active"]:
            active[name] = active.get(name, 0) + stats["active"][name]
            entries[name] = entries.get(name, 0) + stats["entries"][name]
        tracker.advance()
        if len(batches) >= 20 and (k + 1) % (len(batches) // 10) == 0:
            tracker.note(f"epoch {epoch + 1} batch {k + 1}/{len(batches)} loss {stats['loss']:.4f}")
    seconds = time.perf_counter() - start  # training only: the validation below is not part of it
    record = EpochRecord(
        epoch + 1,
        totals["loss"] / len(x),
        totals["correct"] / len(x),
        None if val is None else evaluate(state.net, *val),
        sum(active.values()) / max(1, sum(entries.values())),
        {name: active[name] / max(1, entries[name]) for name in active},
        seconds,
        totals["forward"],
        totals["backward"],
    )
    state.history.append(record)
    return record


def epoch_tracker(progress: Callable[[str], None] | None, task: str, state: TrainState, samples: int) -> Tracker:
    """The progress of a run: its batches over all its epochs (a resumed run from the epochs done)."""
    batches = -(-samples // state.settings.batch_size)
    return Tracker(progress, task, state.settings.epochs * batches, done=state.epochs_done * batches)


def epoch_done(tracker: Tracker, state: TrainState, samples: int, line: str) -> None:
    """Tell the run's progress that an epoch ended, with its line."""
    tracker.reach(state.epochs_done * -(-samples // state.settings.batch_size))
    tracker.note(line, result=True)


def history_rows(state: TrainState) -> list[dict]:
    """The history as JSON-friendly rows."""
    return [asdict(record) for record in state.history]
