"""Static and dynamic parts: how a spiking network's values split, and what stays constant.

Every value in the network splits into a *static* part, the same in every step (biases, the
direct-coded input and what linear ops make of them), and a *dynamic* part carried by spikes. Each
op's spec says how its static part follows from its inputs' (``OpSpec.static_part``), so the static
part is computed once per sample and only spikes are propagated in each step. A neuron layer's
value is all dynamic (its spikes); the input is all static with direct coding and all dynamic, bar
its normalisation's shift, with spike codings.

Static parts that do not depend on the sample (a bias, the shift of a spike-coded input, the zeros
of a neuron layer) are *shared*: computed once per run.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph


def dynamic_nodes(graph: Graph, spiking_input: bool) -> dict[str, bool]:
    """Whether each node's value changes from step to step (depends on spikes); the input does when it
    is spike-coded."""
    dynamic: dict[str, bool] = {}
    for node in graph.nodes:
        if node.spec.role == "input":
            dynamic[node.name] = spiking_input
        elif node.spec.role == "activation":
            dynamic[node.name] = True
        else:
            dynamic[node.name] = any(dynamic[i] for i in node.inputs)
    return dynamic


def shared_static(graph: Graph, dynamic: dict[str, bool]) -> dict[str, np.ndarray]:
    """Static parts that are the same for every sample, (1,) + shape per node (module docstring).

    Raises
    ------
    UnsupportedError
        If an op cannot split its value this way (a max pool that receives spikes and a constant).
    """
    shared: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        if node.spec.role == "input":
            if dynamic[node.name]:  # a spike-coded input without a spike: the normalisation's shift
                zeros = np.zeros((1,) + graph.input_shape, np.float32)
                shared[node.name] = node.spec.static_part(node, [zeros]).astype(np.float32)
            continue
        if node.spec.role == "activation":
            shared[node.name] = np.zeros((1,) + node.shape, np.float32)
            continue
        value = node.spec.shared_static(node, [shared.get(i) for i in node.inputs], dynamic[node.name])
        if value is not None:
            shared[node.name] = value.astype(np.float32, copy=False)
    return shared


def static_parts(
    graph: Graph, x: np.ndarray, dynamic: dict[str, bool], shared: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Static part of every node's value for a batch ``x``, (N,) + node shape, float32 (shared parts
    broadcast, not copied)."""
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        if node.name in shared:
            values[node.name] = np.broadcast_to(shared[node.name], (len(x),) + node.shape)
        else:
            inputs = [x] if node.spec.role == "input" else [values[i] for i in node.inputs]
            values[node.name] = node.spec.static_part(node, inputs).astype(np.float32, copy=False)
    return values
