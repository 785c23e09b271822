"""``eventsim.train_ttfs``: time-to-first-spike networks trained from scratch (Che et al., "Towards
efficient and effective training of TTFS spiking neural networks", arXiv 2410.23619), the recipe
of docs/ttfs.md ("Training TTFS networks"):

- single-spike integrate-and-fire neurons (kind ``single_spike``): ``v(t) = v(t−1) + I(t)``, a
  spike when v reaches θ, then silence for the rest of the sample; BPTT through the steps, dS/du
  from the estimator at every step before the spike, the silencing mask detached;
- TTFS-coded input: one spike per input element, earlier for brighter ones;
- an initialisation against information diminishing and imbalanced membranes: no biases and no
  input shift (a current in every step would fire the neurons by the clock), weights rescaled in
  depth order until a neuron fires for about half of the samples it can fire for;
- temporal weighting decoding y = Σ_t w_t o(t), the weights learned (or fixed, favouring early
  steps: w_t = T − t + 1);
- average pooling where the model pools by maxima.
"""

from __future__ import annotations

from ..ir.graph import Graph
from .api import TrainResult, train


def average_pools(graph: Graph) -> Graph:
    """``graph`` with every max pool replaced by an average pool over the same windows (each op says
    whether it has such a twin); the other nodes are kept."""
    nodes = [node.spec.as_average(node) or node for node in graph.nodes]
    return Graph(nodes, graph.output, list(graph.notes), dict(graph.meta))


def train_ttfs(
    model: Graph,
    x,
    y,
    T: int,
    *,
    learn_decoding: bool = True,
    average_pooling: bool = True,
    estimator="fast_sigmoid",
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 3e-3,
    **options,
) -> TrainResult:
    """Train a TTFS network of single-spike neurons from scratch (module docstring).

    Parameters
    ----------
    model : Graph
        The architecture (e.g. :func:`eventsim.load_onnx`); its weights are not used.
    x, y : numpy.ndarray
        Training inputs in [0, 1] and labels.
    T : int
        Steps per sample: the window of the input coding and of every layer.
    learn_decoding : bool
        Learn the temporal decoding weights (else w_t = T − t + 1).
    average_pooling : bool
        Pool by averages where the model pools by maxima (a max over single spikes keeps only the
        earliest, and its gradient reaches one input per window).
    estimator, epochs, batch_size, lr
        As in :func:`eventsim.train`; the defaults are those measured in docs/ttfs.md.
    **options
        Any other option of :func:`eventsim.train` (``val``, ``threshold``, ``seed``, ``checkpoint``,
        ``progress``, ...).

    Returns
    -------
    TrainResult
        The network records ``meta["ttfs_training"]``; it runs with ``eventsim.simulate(net, x, T)``
        (TTFS coding is its default).
    """
    if not isinstance(model, Graph):
        raise TypeError(f"train_ttfs trains a graph from scratch (eventsim.load_onnx), got {type(model).__name__}")
    graph = average_pools(model) if average_pooling else model
    result = train(
        graph, x, y, T, kind="single_spike", init="random", decoding="temporal", learn_decoding=learn_decoding,
        estimator=estimator, epochs=epochs, batch_size=batch_size, lr=lr, **options,
    )  # fmt: skip
    result.net.meta["ttfs_training"] = {
        "T": int(T),
        "neuron": "single_spike",
        "decoding": "temporal, learned" if learn_decoding else "temporal, w_t = T - t + 1",
        "pooling": "average" if average_pooling else "as the model",
        "reading": "docs/ttfs.md, Training TTFS networks",
    }
    return result
