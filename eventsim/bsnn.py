"""BSNN: bistable neurons and synchronous neurons for residual networks (Li, Zhao and Zeng,
"BSNN: Towards faster and better conversion of artificial neural networks to spiking neural networks
with bistable neurons", arXiv 2105.12917, Frontiers in Neuroscience 2022).

Only the paper's abstract could be consulted; what is implemented is the reading in docs/bsnn.md,
which says for every choice whether it comes from the abstract or is ours.

- Every activation becomes a layer of bistable neurons (:func:`eventsim.neurons.bistable_update`):
  in cycles of ``period`` steps a layer integrates for one cycle and fires for the next, reset by
  subtraction; the layer at pipeline stage s integrates while the layers at stage s − 1 fire. The
  stage of a layer is the number of neuron layers on the longest path from the input to it.
- Synchronous neurons: where a node joins values of different stages (a residual ``add``, a
  ``concat``), the shallower inputs are delayed by (difference in stages) × period steps, so that a
  shortcut's spikes reach the neurons after the join in the same cycle as the residual branch's. The
  delay sits where the shortcut leaves its spiking source when the shortcut is a private chain (the
  identity shortcut itself, or the 1×1 projection conv and what follows it), so a spike train is
  delayed; otherwise on the join's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calibration import make_network
from .graph import Graph, Node
from .network import SpikingNetwork, pipeline_stages


@dataclass(frozen=True)
class Delay:
    """One synchronous-neuron delay inserted by :func:`insert_synchronous_neurons`."""

    name: str
    source: str
    target: str
    steps: int


def _delay_edge(graph: Graph, join: Node, source: str) -> tuple[str, str]:
    """The edge (from, to) on which to delay ``join``'s input ``source``: walk up the private
    single-input chain that leads to the join until the node whose output is spikes (a neuron layer
    or the input), and delay what leaves it."""
    child, current = join.name, source
    while True:
        node = graph.node(current)
        if node.spec.role in ("activation", "input") or len(node.inputs) != 1 or len(graph.consumers(current)) != 1:
            return current, child
        child, current = current, node.inputs[0]


def insert_synchronous_neurons(graph: Graph, period: int) -> tuple[Graph, list[Delay]]:
    """``graph`` with delays that bring every join's inputs to the same pipeline stage.

    Parameters
    ----------
    graph : Graph
        The ANN graph.
    period : int
        Steps per BSNN cycle; a delay of one stage is ``period`` steps.

    Returns
    -------
    (Graph, list of Delay)
        The new graph (the ANN it computes is unchanged: a delay is the identity) and the delays.
    """
    stages = pipeline_stages(graph)
    plan: dict[tuple[str, str], int] = {}  # (from, to) edge → delay steps
    for node in graph.nodes:
        if len(node.inputs) < 2:
            continue
        deepest = max(stages[i] for i in node.inputs)
        for source in node.inputs:
            lag = deepest - stages[source]
            if lag > 0:
                edge = _delay_edge(graph, node, source)
                plan[edge] = max(plan.get(edge, 0), lag * period)
    if not plan:
        return graph, []
    nodes: list[Node] = []
    delays: list[Delay] = []
    names = {n.name for n in graph.nodes}
    for node in graph.nodes:
        inputs = list(node.inputs)
        for position, source in enumerate(inputs):
            steps = plan.get((source, node.name))
            if steps:
                name = f"{source}/sync_delay_{steps}"
                while name in names:
                    name += "_"
                names.add(name)
                nodes.append(Node(name, "delay", (source,), {"steps": steps}))
                delays.append(Delay(name, source, node.name, steps))
                inputs[position] = name
        nodes.append(node.copy(inputs=tuple(inputs)) if inputs != list(node.inputs) else node)
    return Graph(nodes, graph.output, list(graph.notes), dict(graph.meta)), delays


def bistable_network(
    graph: Graph, thresholds: dict[str, np.ndarray], period: int, v0: str = "half"
) -> tuple[SpikingNetwork, list[Delay]]:
    """A BSNN: synchronous neurons on the joins, every activation a bistable layer at its stage.

    Parameters
    ----------
    graph : Graph
        The ANN.
    thresholds : dict of str to array
        θ per activation node (scalar or per channel).
    period : int
        Steps per cycle.
    v0 : {"half", "zero"}
        Initial membrane potential θ/2 or 0.
    """
    synced, delays = insert_synchronous_neurons(graph, period)
    stages = pipeline_stages(synced, period)
    net = make_network(synced, thresholds, v0)
    for name, layer in net.layers.items():
        layer.kind, layer.period, layer.stage = "bistable", period, stages[name]
    net.validate()
    return net, delays
