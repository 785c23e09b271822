"""``eventsim.finetune``: hybrid conversion — a converted network trained a few epochs at the T it
will run at, starting from the conversion's weights, thresholds, initial potentials and temporal
biases (Rathi et al., ICLR 2020; DIET-SNN; IIR-SNN), with any estimator of the trainer."""

from __future__ import annotations

from ..snn.network import SpikingNetwork
from .api import TrainResult, train


def finetune(
    net: SpikingNetwork,
    x,
    y,
    T: int,
    *,
    thresholds: bool = False,
    v0: bool = False,
    temporal_bias: bool = False,
    estimator="localzo:delta=0.5,m=5",
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    encoding: str | None = None,
    **options,
) -> TrainResult:
    """Fine-tune a converted network at ``T`` steps.

    The network keeps its structure: its graph, kinds, codings and decoding; the weights and biases
    train, and with ``thresholds``, ``v0`` and ``temporal_bias`` those neuron parameters too (FTBC's
    biases start from their calibrated values). The recipe is recorded in ``meta["finetune"]``.

    Parameters
    ----------
    net : SpikingNetwork
        A converted network (IF or LIF layers).
    x, y : numpy.ndarray
        Training inputs and labels (never the test data).
    T : int
        The steps the network will run at.
    thresholds, v0, temporal_bias : bool
        Train these neuron parameters too.
    estimator, epochs, batch_size, lr
        As in :func:`eventsim.train`. The default LocalZO is wider (δ = 0.5, m = 5, the authors'
        setting for direct training) than the trainer's sparse default: a converted network's
        membranes live on the scale of its thresholds (often several units), where δ = 0.05 leaves
        too few neurons with a gradient.
    encoding : str, optional
        Input coding; default the network's own (``direct`` for rate conversions).
    **options
        Any other option of :func:`eventsim.train` (``val``, ``optimizer``, ``backward``, ``seed``,
        ``checkpoint``, ``resume``, ``progress``, ...).
    """
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"finetune needs a SpikingNetwork (from eventsim.convert), got {type(net).__name__}")
    params = tuple(name for name, on in (("threshold", thresholds), ("v0", v0), ("temporal_bias", temporal_bias)) if on)
    coding = encoding or net.required_encoding or "direct"
    result = train(
        net, x, y, T, encoding=coding, estimator=estimator, epochs=epochs, batch_size=batch_size, lr=lr,
        neuron_params=params, init="model", **options,
    )  # fmt: skip
    result.net.meta["finetune"] = {
        "T": int(T),
        "from": net.meta.get("preset", net.meta.get("method")),
        "trained": ["weights", "biases", *params],
        "epochs": result.history[-1].epoch,
        "encoding": coding,
    }
    return result
