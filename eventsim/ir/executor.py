"""The ANN executor: runs any :class:`~eventsim.ir.graph.Graph` on a batch in NumPy (float32).

It is how an import is verified (against onnxruntime) and where calibration gets its activations.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from ..data import check_batch
from .graph import Graph


def run_ann(
    graph: Graph,
    x: np.ndarray,
    record: bool | Collection[str] = False,
    batch_size: int = 256,
) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run the graph as an ANN.

    Parameters
    ----------
    graph : Graph
        The network.
    x : numpy.ndarray
        Inputs of shape (N,) + ``graph.input_shape``; cast to float32, must be finite.
    record : bool or collection of str
        ``True`` also returns the output of every activation node; a collection of node names
        returns those nodes' outputs.
    batch_size : int
        Samples computed at once (bounds the memory of the im2col buffers).

    Returns
    -------
    numpy.ndarray
        The output, shape (N,) + ``graph.output_shape``; with ``record``, a pair
        ``(output, {node name: values})``.
    """
    x = check_batch(x, graph.input_shape)
    if record is True:
        names = [n.name for n in graph.activation_nodes()]
    elif record:
        names = list(record)
        unknown = [n for n in names if n not in graph]
        if unknown:
            raise KeyError(f"no nodes named {unknown} in the graph")
    else:
        names = []
    outputs, recorded = [], {name: [] for name in names}
    for start in range(0, max(len(x), 1), batch_size):
        values = _forward(graph, x[start : start + batch_size])
        outputs.append(values[graph.output])
        for name in names:
            recorded[name].append(values[name])
    out = np.concatenate(outputs)
    if not record:
        return out
    return out, {name: np.concatenate(parts) for name, parts in recorded.items()}


def _forward(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        xs = [x] if node.spec.role == "input" else [values[i] for i in node.inputs]
        values[node.name] = node.spec.forward(node, xs).astype(np.float32, copy=False)
    return values
