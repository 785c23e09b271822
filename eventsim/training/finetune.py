"""``eventsim.finetune``: hybrid conversion — a converted network trained a few epochs at the T it
will run at, starting from the conversion's weights, thresholds, initial potentials and temporal
biases (Rathi et al., ICLR 2020; DIET-SNN; IIR-SNN), with any estimator of the trainer.

Made for the small training sets a conversion is calibrated on: knowledge distillation from the ANN
(its logits as soft targets, Hinton et al. 2015), random image shifts where the ANN is invariant to
them, every parameter trained in units of its own scale with a warmed-up cosine learning rate, and
keep-best — the network is evaluated at T on held-out data before training and after every epoch,
and the best is returned, so fine-tuning never returns a network worse than the conversion on that
data.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from ..data import check_batch
from ..errors import DataError, OptionError
from ..ir.graph import Graph
from ..snn.network import SpikingNetwork
from .api import TrainResult, _checked_data, _line, _recipe, check_memory
from .augment import holdout_split, mix_inputs, shift_images
from .estimators import Estimator, parse_estimator
from .losses import decoded_logits, soft_target_loss
from .optimizers import Optimizer
from .prepare import training_network
from .trainer import TrainSettings, TrainState, epoch_done, epoch_tracker, run_epoch

_SETTINGS = ("loss", "backward", "detach_reset", "spike_penalty", "learn_decoding")
_OPTIMIZER = ("optimizer", "weight_decay", "momentum")
#: A layer's neuron parameters train in units of this share of its mean threshold (see
#: :func:`parameter_scales`).
NEURON_UNIT = 0.1
#: The keep-best criteria (:func:`finetune`'s ``select``).
SELECT_CRITERIA = ("accuracy", "agreement", "distill")


def finetune(
    net: SpikingNetwork,
    x: np.ndarray,
    y: np.ndarray | None,
    T: int,
    *,
    teacher: Graph | None = None,
    distill: float | None = None,
    temperature: float = 4.0,
    augment: int | None = None,
    mixup: float | None = None,
    holdout: float = 0.2,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    select: str | None = None,
    thresholds: bool = False,
    v0: bool = False,
    temporal_bias: bool = False,
    estimator: Estimator | str = "localzo:delta=1,m=5",
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-2,
    schedule: str = "cosine",
    encoding: str | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    **options,
) -> TrainResult:
    """Fine-tune a converted network at ``T`` steps.

    The network keeps its structure: its graph, kinds, codings and decoding; the weights and biases
    train, and with ``thresholds``, ``v0`` and ``temporal_bias`` those neuron parameters too (FTBC's
    biases start from their calibrated values). ``meta["finetune"]`` records the recipe, the
    held-out scores of every epoch (epoch 0: the network as given) and the epoch returned.

    Parameters
    ----------
    net : SpikingNetwork
        A converted network (IF or LIF layers).
    x : numpy.ndarray
        Training inputs (never the test data).
    y : numpy.ndarray or None
        Their integer labels; ``None`` with a teacher, whose predictions then stand for them (the
        loss is then the soft-target loss alone).
    T : int
        The steps the network will run at.
    teacher : Graph, optional
        The ANN the network was converted from. The loss then compares the network's decoded logits
        (o(T)/T for ``sum`` decoding, on the ANN's scale) with the ANN's logits on the same (shifted,
        mixed) inputs (:func:`eventsim.training.losses.soft_target_loss`).
    distill : float, optional
        The soft-target loss's weight in [0, 1], the labels' cross-entropy having 1 − distill;
        default 0.5 with a teacher and labels, 1 with a teacher alone, 0 without one.
    temperature : float
        The soft-target loss's temperature.
    augment : int, optional
        Shift every training image by up to this many pixels each way, drawn afresh every epoch (0:
        none). Default: 1 when the teacher's accuracy on the training images so shifted is within
        one point of its accuracy on them unshifted (true of MNIST, not of 8×8 digits), else 0.
    mixup : float, optional
        With a teacher: the share of every epoch's inputs replaced by λ·x_i + (1 − λ)·x_j
        (:func:`eventsim.training.augment.mix_inputs`), labelled by the teacher's logits and
        decisions on them. Default 0 (measured with 0.5 in docs/training.md: it helped the digits
        MLP at T = 1 and the LeNet at T ≤ 2).
    holdout : float
        The share of ``x`` (stratified by label, chosen by ``seed``) held out of training to choose
        the epoch on (keep-best); 0 returns the last epoch. Ignored when ``val`` is given.
    val : (x, y), optional
        Held-out data to choose the epoch on instead; all of ``x`` then trains.
    select : {"accuracy", "agreement", "distill"}, optional
        What keep-best maximises on the held-out data: the accuracy; the share of the teacher's
        decisions matched, ties broken by the soft-target loss, among the epochs that match
        significantly more of them than the network as given (:func:`_selection_key`); or minus
        the soft-target loss against the teacher. Default ``accuracy`` (``agreement`` kept the
        conversion where FTBC had calibrated on the held-out images and fine-tuning gained on the
        test split: QCFS at T = 1 and 4; docs/training.md).
    thresholds, v0, temporal_bias : bool
        Train these neuron parameters too.
    estimator : Estimator or str
        dS/du, as in :func:`eventsim.train`. The default LocalZO (δ = 1, m = 5) is wider than the
        trainer's sparse default: a converted network's membranes live on the scale of its
        thresholds (often several units), where δ = 0.05 leaves too few neurons with a gradient.
    epochs, batch_size : int
    lr : float
        The learning rate in units of each parameter's scale (:func:`parameter_scales`): 1e-2 moves
        a weight by about 1 % of its array's RMS per Adam step.
    schedule : {"cosine", "constant"}
        ``cosine``: a linear warm-up over the first tenth of the steps, then a cosine decay
        (:func:`eventsim.training.trainer.lr_factor`).
    encoding : str, optional
        Input coding; default the network's own (``direct`` for rate conversions).
    seed : int
        Seeds the sample order, the held-out split, the shifts and the mixes.
    progress : callable, optional
        Receives one line per epoch (a :class:`~eventsim.progress.ProgressLine`, with the batches done
        and the time left).
    **options
        ``loss``, ``backward``, ``detach_reset``, ``spike_penalty``, ``learn_decoding``,
        ``optimizer``, ``weight_decay``, ``momentum``: as in :func:`eventsim.train`.

    Returns
    -------
    TrainResult
        The history of every epoch; ``net`` is the network kept.
    """
    _check_arguments(net, y, teacher, distill, mixup, select, options)
    recipe = _defaults(teacher, y, distill, mixup, select)
    params = tuple(name for name, on in (("threshold", thresholds), ("v0", v0), ("temporal_bias", temporal_bias)) if on)
    coding = encoding or net.required_encoding or "direct"
    settings = TrainSettings(
        T, coding, epochs=epochs, batch_size=batch_size, seed=seed, neuron_params=params, schedule=schedule,
        distill=recipe["distill"], temperature=temperature, scales=parameter_scales(net, params),
        **{k: v for k, v in options.items() if k in _SETTINGS},
    )  # fmt: skip
    settings.check()
    optimizer = Optimizer(lr=lr, **{k: v for k, v in options.items() if k in _OPTIMIZER})
    if isinstance(estimator, str):
        estimator = parse_estimator(estimator)
    state = TrainState(training_network(net, init="model"), optimizer, settings, estimator)
    check_memory(state.net, T, batch_size)
    x, y, held, record = _split(state.net, x, y, teacher, val, holdout, seed)
    recipe["augment"] = _invariant_shift(teacher, x, y, seed) if augment is None else int(augment)
    chosen, choice = _train_keeping_best(state, x, y, teacher, held, recipe, progress)
    chosen.meta = dict(chosen.meta, training=_recipe(state))
    chosen.meta["finetune"] = _meta_record(net, state, lr, teacher, recipe) | record | choice
    result = TrainResult(state)
    result.net = chosen
    return result


def _check_arguments(net, y, teacher, distill, mixup, select, options: dict) -> None:
    """Refuse what :func:`finetune` cannot do, before any work."""
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"finetune needs a SpikingNetwork (from eventsim.convert), got {type(net).__name__}")
    unknown = set(options) - set(_SETTINGS) - set(_OPTIMIZER)
    if unknown:
        raise TypeError(f"finetune got unknown options {sorted(unknown)}")
    if teacher is None and y is None:
        raise OptionError("fine-tuning needs labels y, or a teacher to distil from", "pass teacher=the ANN")
    if teacher is None and distill:
        raise OptionError("distillation needs a teacher", "pass teacher=the ANN (CLI: --teacher MODEL.onnx)")
    if teacher is None and mixup:
        raise OptionError(
            "mixup needs a teacher to label the mixed inputs", "pass teacher=the ANN (CLI: --teacher MODEL.onnx)"
        )
    if select is not None and select not in SELECT_CRITERIA:
        raise OptionError(f"select must be one of {SELECT_CRITERIA}, got {select!r}")
    if teacher is None and select not in (None, "accuracy"):
        raise OptionError(
            f"select={select!r} compares with a teacher", "pass teacher=the ANN (CLI: --teacher MODEL.onnx)"
        )
    if mixup is not None and not 0 <= mixup <= 1:
        raise OptionError(f"mixup is a share of the inputs in [0, 1], got {mixup!r}")


def _defaults(teacher: Graph | None, y, distill, mixup, select) -> dict:
    """The distillation weight, the mixup share and the keep-best criterion, defaults filled in."""
    has = teacher is not None
    return {
        "distill": (0.0 if not has else 0.5 if y is not None else 1.0) if distill is None else float(distill),
        "mixup": 0.0 if mixup is None else float(mixup),
        "select": "accuracy" if select is None else select,
    }


def _meta_record(net: SpikingNetwork, state: TrainState, lr: float, teacher: Graph | None, recipe: dict) -> dict:
    """What ``meta["finetune"]`` records of the recipe (the choice of epoch is added to it)."""
    s = state.settings
    return {
        "T": int(s.T),
        "from": net.meta.get("preset", net.meta.get("method")),
        "trained": ["weights", "biases", *s.neuron_params],
        "epochs": state.epochs_done,
        "encoding": s.encoding,
        "lr": float(lr),
        "schedule": s.schedule,
        "teacher": teacher is not None,
        "distill": recipe["distill"],
        "temperature": float(s.temperature),
        "augment": int(recipe["augment"]),
        "mixup": recipe["mixup"],
        "select": recipe["select"],
    }


def parameter_scales(net: SpikingNetwork, neuron_params: tuple[str, ...]) -> dict[str, float]:
    """The unit every trained array moves in (``TrainSettings.scales``), by its optimiser name.

    A weight array's unit is its RMS and a bias's its own RMS (its weights' when it is all zeros);
    a layer's thresholds, initial potentials and temporal biases move in units of a tenth of its
    mean threshold. One learning rate then suits weights of a few hundredths and thresholds of tens.
    The neuron parameters' unit is smaller because one threshold (per layer or per channel) moves
    the firing of every neuron it serves at once: in units of the whole threshold, the residual
    model's training collapsed within epochs.
    """
    scales = {}
    for node in net.graph.nodes:
        keys = node.spec.trainable_params or ()
        rms = {key: float(np.sqrt(np.mean(np.square(node.params[key], dtype=np.float64)))) for key in keys}
        for key in keys:
            scales[f"{node.name}/{key}"] = rms[key] or rms.get("W") or 1.0
    for name, layer in net.layers.items():
        unit = NEURON_UNIT * (float(np.mean(np.abs(layer.threshold))) or 1.0)
        for key in neuron_params:
            scales[f"layer/{name}/{key}"] = unit
    return scales


def _split(net: SpikingNetwork, x, y, teacher: Graph | None, val, holdout: float, seed: int) -> tuple:
    """The training inputs and labels (the teacher's predictions without labels), the held-out pair
    to choose the epoch on (None: keep the last) and what the metadata records of it."""
    x = check_batch(x, net.graph.input_shape, "x")
    if teacher is not None:
        if not isinstance(teacher, Graph):
            raise TypeError(f"the teacher must be a Graph (the ANN), got {type(teacher).__name__}")
        if teacher.input_shape != net.graph.input_shape or teacher.output_shape != net.graph.output_shape:
            raise DataError(
                f"the teacher maps {teacher.input_shape} to {teacher.output_shape}, the network "
                f"{net.graph.input_shape} to {net.graph.output_shape}",
                "pass the ANN the network was converted from",
            )
    if y is None:
        y = teacher_logits(teacher, x).argmax(axis=1)
    x, y, val = _checked_data(net, x, y, val)
    if val is not None:
        return x, y, val, {"selected_on": "val", "held_out": len(val[0])}
    fit, held = holdout_split(y, holdout, seed)
    if len(held) == 0:
        return x, y, None, {"selected_on": None, "held_out": 0}
    return x[fit], y[fit], (x[held], y[held]), {"selected_on": "holdout", "held_out": len(held)}


def teacher_logits(teacher: Graph, x: np.ndarray) -> np.ndarray:
    """The teacher's outputs on ``x``, (N, K) float32."""
    from ..ir.executor import run_ann

    return np.asarray(run_ann(teacher, x), np.float32).reshape(len(x), -1)


def _invariant_shift(teacher: Graph | None, x: np.ndarray, y: np.ndarray, seed: int) -> int:
    """1 when the teacher's accuracy on ``x`` shifted by up to a pixel is within a point of its
    accuracy on ``x`` (the shifts then keep the labels), else 0; 0 without a teacher or images."""
    if teacher is None or x.ndim < 3 or min(x.shape[-2:]) < 2:
        return 0
    plain = np.mean(teacher_logits(teacher, x).argmax(axis=1) == y)
    shifted = np.mean(teacher_logits(teacher, shift_images(x, 1, (seed, 0xC4EC))).argmax(axis=1) == y)
    return int(shifted >= plain - 0.01)


def _train_keeping_best(
    state: TrainState, x, y, teacher: Graph | None, held, recipe: dict, progress
) -> tuple[SpikingNetwork, dict]:
    """Run the epochs; return a copy of the network at the epoch of the best held-out criterion
    (ties: the earlier; epoch 0 is the network as given), or at the last without held-out data, and
    the record of the choice (the held-out scores of every epoch, the epoch returned)."""
    s = state.settings
    reference = None if held is None or teacher is None else teacher_logits(teacher, held[0])
    scores: list[dict] = []

    def evaluate(current: SpikingNetwork, vx: np.ndarray, vy: np.ndarray) -> float:
        scores.append(held_out_scores(current, vx, vy, s.T, s.encoding, reference, s.temperature, s.loss))
        return scores[-1]["accuracy"]

    best, keys = None, []
    tracker = epoch_tracker(progress, "fine-tuning", state, len(x))
    if held is not None:
        evaluate(state.net, *held)
        best, keys = copy.deepcopy(state.net), [_selection_key(scores[0], scores[0], recipe["select"])]
        given = f"epoch 0/{s.epochs}: held-out {100 * scores[0]['accuracy']:.2f}% (the network as given)"
        tracker.note(given, result=True)
    for epoch in range(s.epochs):
        xe, ye, soft = _epoch_inputs(x, y, teacher, recipe, s.seed, epoch, s.distill)
        record = run_epoch(state, xe, ye, held, evaluate, tracker, soft=soft)
        epoch_done(tracker, state, len(x), _line(record, s.epochs))
        if held is not None:
            keys.append(_selection_key(scores[-1], scores[0], recipe["select"]))
            if keys[-1] > max(keys[:-1]):
                best = copy.deepcopy(state.net)
    if held is None:
        return state.net, {"best_epoch": s.epochs}
    choice = {"held_out_accuracy": [score["accuracy"] for score in scores], "best_epoch": keys.index(max(keys))}
    if reference is not None:
        choice["held_out_agreement"] = [score["agreement"] for score in scores]
        choice["held_out_loss"] = [score["loss"] for score in scores]
    return best, choice


def _selection_key(score: dict, first: dict, select: str) -> tuple:
    """What keep-best maximises (tuples compare in order: the first entry, then the tie-break).

    ``agreement``: an epoch competes only when it matches the teacher's decisions on significantly
    more held-out samples than the network as given (``first``) — of the samples where the two
    differ, those it gains less those it loses exceed one standard deviation of that difference
    for two equally good networks, √(gained + lost) — else its key is below any other."""
    if select == "accuracy":
        return (score["accuracy"],)
    if select == "distill":
        return (-score["loss"],)
    gained = int(np.sum(score["matches"] & ~first["matches"]))
    lost = int(np.sum(~score["matches"] & first["matches"]))
    if score is not first and gained - lost <= np.sqrt(gained + lost):
        return (-np.inf, -np.inf)
    return (score["agreement"], -score["loss"])


def held_out_scores(
    net: SpikingNetwork,
    x: np.ndarray,
    y: np.ndarray,
    T: int,
    encoding: str,
    reference: np.ndarray | None,
    temperature: float,
    loss: str = "sum",
) -> dict:
    """A network's accuracy at T on (x, y) in the engines and, given the teacher's logits on ``x``,
    the share of the teacher's decisions it matches and its soft-target loss against them.

    Parameters
    ----------
    net : SpikingNetwork
    x, y : numpy.ndarray
        Inputs and integer labels.
    T : int
    encoding : str
    reference : numpy.ndarray or None
        The teacher's logits on ``x`` (N, K).
    temperature : float
        The soft-target loss's temperature.
    loss : {"sum", "max"}
        Which decoded logits the soft-target loss reads (:func:`eventsim.training.losses.decoded_logits`).

    Returns
    -------
    dict
        ``accuracy``; with ``reference`` also ``matches`` (N,), whether each prediction is the
        teacher's, ``agreement``, their share, and ``loss``.
    """
    from ..simulation import simulate

    record = simulate(net, x, T, encoding=encoding)
    out = {"accuracy": float(record.accuracy(y)[-1])}
    if reference is not None:
        outputs = np.swapaxes(np.asarray(record.outputs, np.float64), 0, 1)
        logits = decoded_logits(outputs, loss)[0]
        out["matches"] = record.predictions()[:, -1] == reference.argmax(axis=1)
        out["agreement"] = float(np.mean(out["matches"]))
        out["loss"] = soft_target_loss(logits, reference, temperature)[0]
    return out


def _epoch_inputs(x, y, teacher: Graph | None, recipe: dict, seed: int, epoch: int, distill: float) -> tuple:
    """One epoch's inputs (shifted, a share mixed), their labels (the teacher's decisions on the
    mixed ones) and the teacher's logits on them (None when nothing distils)."""
    xe = shift_images(x, recipe["augment"], (seed, epoch))
    xe, mixed = mix_inputs(xe, recipe["mixup"], (seed, epoch))
    soft = teacher_logits(teacher, xe) if teacher is not None and (distill or mixed.any()) else None
    if mixed.any():
        y = np.where(mixed, soft.argmax(axis=1), y)
    return xe, y, soft if distill else None
