"""``eventsim.train``: train a spiking network with BPTT and a gradient estimator, on a CPU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..data import check_batch
from ..errors import DataError
from ..ir.graph import Graph
from ..snn.network import SpikingNetwork
from .checkpoint import load_checkpoint, save_checkpoint
from .estimators import Estimator, localzo, parse_estimator
from .optimizers import Optimizer
from .prepare import scale_to_fire, training_network
from .trainer import EpochRecord, TrainSettings, TrainState, epoch_done, epoch_tracker, history_rows, run_epoch


class TrainResult:
    """What :func:`train` returns: the trained network and the history of its epochs.

    Attributes
    ----------
    net : SpikingNetwork
        Runs in every engine with the training forward's outputs.
    history : list of EpochRecord
    """

    def __init__(self, state: TrainState) -> None:
        self.net, self.history = state.net, state.history
        self._state = state

    def rows(self) -> list[dict]:
        """The history as JSON-friendly rows (one per epoch)."""
        return history_rows(self._state)


def _labels(y, n: int, classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise DataError(f"labels {name!r} must be {n} integers (one per sample), got {y.dtype} {y.shape}")
    if n and (y.min() < 0 or y.max() >= classes):
        raise DataError(
            f"labels {name!r} range over [{y.min()}, {y.max()}], the network has {classes} outputs",
            "pass class indices 0..K-1",
        )
    return y.astype(np.int64)


def check_memory(
    net: SpikingNetwork | Graph, T: int, batch_size: int, fix: str = "use smaller batches (--batch-size) or a smaller T"
) -> None:
    """Refuse a batch whose training trace would not fit in the memory budget
    (:func:`eventsim.simulation.memory.require_memory`): every node's value over the T steps
    (float32) is kept for the backward, and the backward holds about as much again in gradients and
    masks. ``net``: the network, or the graph it is (or will be) made of; ``fix``: what the caller
    can change."""
    from ..simulation.memory import require_memory

    graph = net.graph if isinstance(net, SpikingNetwork) else net
    sizes = sum(int(np.prod(node.shape)) for node in graph.nodes) + int(np.prod(graph.input_shape))
    trace = 4 * T * batch_size * sizes
    require_memory(
        f"training with T={T} and batches of {batch_size}",
        {"forward trace": trace, "gradients and masks": 2 * trace},
        fix,
    )


def accuracy(net: SpikingNetwork, x: np.ndarray, y: np.ndarray, T: int, encoding: str) -> float:
    """Accuracy at step T in the engines (``auto``), which is how the trained network will run."""
    from ..simulation import simulate

    return float(simulate(net, x, T, encoding=encoding).accuracy(y)[-1])


def train(
    model: Graph | SpikingNetwork,
    x: np.ndarray,
    y: np.ndarray,
    T: int,
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    encoding: str | None = None,
    estimator: Estimator | str | None = None,
    loss: str = "sum",
    epochs: int = 1,
    batch_size: int = 64,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    backward: str = "sparse",
    detach_reset: bool = True,
    spike_penalty: float = 0.0,
    learn_decoding: bool = False,
    neuron_params: tuple[str, ...] = (),
    kind: str = "lif",
    leak: float = 0.9,
    reset: str = "subtract",
    threshold: float = 1.0,
    decoding: str = "sum",
    init: str = "model",
    seed: int = 0,
    checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a spiking network by backpropagation through time.

    Parameters
    ----------
    model : Graph or SpikingNetwork
        A graph (e.g. :func:`eventsim.load_onnx`) gets a layer of ``kind`` neurons per activation, its
        weights as the initialisation unless ``init="random"``; a network keeps its neurons.
    x, y : numpy.ndarray
        Training inputs (N,) + input shape and integer labels (N,).
    T : int
        Steps per sample.
    val : (x, y), optional
        Validation data, evaluated after every epoch in the engines.
    encoding : str, optional
        Input coding (``direct``, ``rate``, ``latency``, ``ttfs``); default the one the network's
        neurons need (``ttfs`` for single-spike neurons), else ``direct``.
    estimator : Estimator or str
        dS/du: a surrogate or LocalZO (default ``localzo``: δ = 0.05, m = 1, normal z); a string is
        parsed by :func:`eventsim.training.estimators.parse_estimator`.
    loss : {"sum", "max"}
        Cross-entropy on the mean output over T, or on each class's largest single-step output.
    epochs, batch_size : int
    optimizer : {"adam", "sgd"}
    lr, weight_decay, momentum : float
    backward : {"sparse", "dense"}
        The sparse Numba pass (visits only active entries) or the dense NumPy reference.
    detach_reset : bool
        Treat the reset as a constant in the backward.
    spike_penalty : float
        Weight of a penalty on the mean spikes per neuron and step of every layer.
    learn_decoding : bool
        Learn the output's temporal decoding weights (with ``decoding="temporal"``).
    neuron_params : tuple of str
        Neuron parameters to train too: ``"threshold"``, ``"v0"``, ``"temporal_bias"`` (layers that
        have one); see :func:`eventsim.finetune`.
    kind, leak, reset, threshold, decoding :
        The neurons and decoding of a network made from a graph: ``kind`` ``lif``, ``if`` or
        ``single_spike`` (TTFS training: each neuron fires at most once per sample; pair it with
        ``decoding="temporal"``, ``learn_decoding=True`` and ``init="random"``, docs/ttfs.md).
    init : {"model", "random"}
        ``random``: weights uniform in ±1/√fan-in, then rescaled layer by layer on the first batch
        until the median neuron of each layer just reaches its threshold (:func:`scale_to_fire`).
    seed : int
        Seeds the sample order, the rate coding and the random initialisation; the estimator has its
        own seed.
    checkpoint : path, optional
        Written (atomically) after every epoch.
    resume : path, optional
        A checkpoint to continue from: its network, optimiser state and history; ``epochs`` counts
        the epochs of the whole run.
    progress : callable, optional
        Receives one line per epoch (and a few per epoch while it runs), each a
        :class:`~eventsim.progress.ProgressLine` with the batches done and the time left.
    """
    if isinstance(estimator, str):
        estimator = parse_estimator(estimator)
    settings = TrainSettings(
        T, encoding, loss, epochs, batch_size, backward, detach_reset, spike_penalty, learn_decoding, seed,
        tuple(neuron_params),
    )  # fmt: skip
    settings.check()
    if resume is not None:
        state = load_checkpoint(resume)
        state.settings.epochs = epochs
    else:
        neurons = {"kind": kind, "leak": leak, "reset": reset, "threshold": threshold, "decoding": decoding}
        state = _new_run(
            model, x, settings, estimator or localzo(), Optimizer(optimizer, lr, weight_decay, momentum), init, neurons
        )
    x, y, val = _checked_data(state.net, x, y, val)
    check_memory(state.net, state.settings.T, state.settings.batch_size)

    def evaluate(current: SpikingNetwork, vx: np.ndarray, vy: np.ndarray) -> float:
        return accuracy(current, vx, vy, state.settings.T, state.settings.encoding)

    tracker = epoch_tracker(progress, "training", state, len(x))
    while state.epochs_done < state.settings.epochs:
        record = run_epoch(state, x, y, val, evaluate, tracker)
        if checkpoint is not None:
            save_checkpoint(state, checkpoint)
        epoch_done(tracker, state, len(x), _line(record, state.settings.epochs))
    state.net.meta = dict(state.net.meta, training=_recipe(state))
    return TrainResult(state)


def _new_run(
    model, x, settings: TrainSettings, estimator: Estimator, optimizer: Optimizer, init: str, neurons: dict
) -> TrainState:
    """The state of a run from its start: the network to train (checked to fit in memory, and for a
    random init rescaled on the first batch so that it fires)."""
    net = training_network(model, init=init, seed=settings.seed, **neurons)
    settings.encoding = _coding(net, settings.encoding)
    check_memory(net, settings.T, settings.batch_size)
    if init == "random":
        first = check_batch(x[: settings.batch_size], net.graph.input_shape, "x")
        scale_to_fire(net, first, settings.T, settings.encoding)
    return TrainState(net, optimizer, settings, estimator)


def _coding(net: SpikingNetwork, encoding: str | None) -> str:
    """The run's input coding: the one the network's neurons need (single-spike and TTFS neurons read
    TTFS-coded input), else the one asked for, else ``direct``; a contradiction is refused."""
    needed = net.required_encoding
    if encoding is not None and needed not in (None, encoding):
        raise DataError(
            f"this network's neurons read their input with {needed} coding, not with {encoding} coding",
            f"train with encoding={needed!r} (or leave it out)",
        )
    return encoding or needed or "direct"


def _checked_data(net: SpikingNetwork, x, y, val) -> tuple:
    """Inputs and labels (and the validation pair) checked against the network's input and outputs."""
    x = check_batch(x, net.graph.input_shape, "x")
    classes = int(np.prod(net.graph.output_shape))
    y = _labels(y, len(x), classes, "y")
    if val is not None:
        val = (check_batch(val[0], net.graph.input_shape, "val x"), _labels(val[1], len(val[0]), classes, "val y"))
    return x, y, val


def _line(record: EpochRecord, epochs: int) -> str:
    val = "" if record.val_accuracy is None else f" val {100 * record.val_accuracy:.2f}%"
    return (
        f"epoch {record.epoch}/{epochs}: loss {record.loss:.4f} train {100 * record.train_accuracy:.2f}%{val}"
        f" active {100 * record.active_fraction:.2f}% {record.seconds:.1f}s"
        f" (forward {record.forward_seconds:.1f}s, backward {record.backward_seconds:.1f}s)"
    )


def _recipe(state: TrainState) -> dict:
    """What the network's metadata records of its training."""
    s = state.settings
    return {
        "T": s.T,
        "encoding": s.encoding,
        "loss": s.loss,
        "epochs": state.epochs_done,
        "batch_size": s.batch_size,
        "estimator": state.estimator.spec(),
        "optimizer": state.optimizer.settings(),
        "backward": s.backward,
        "neuron_params": list(s.neuron_params),
        "seed": s.seed,
    }
