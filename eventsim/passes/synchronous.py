"""Synchronous neurons: delays that bring the inputs of every join to the same pipeline stage.

Kinds that work in phases (BSNN's bistable neurons, TTFS's windows) schedule each layer by its
pipeline stage (:func:`eventsim.ir.stages.pipeline_stages`). Where a node joins values of different
stages (a residual ``add``, a ``concat``), the shallower inputs are delayed by (difference in stages)
× period steps, so that a shortcut's spikes reach the neurons after the join in the same cycle as
the residual branch's (Li, Zhao and Zeng's synchronous neurons, docs/bsnn.md). The delay sits where
the shortcut leaves its spiking source when the shortcut is a private chain (the identity shortcut
itself, or the 1×1 projection conv and what follows it), so a spike train is delayed; otherwise on
the join's input.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.graph import Graph, Node
from ..ir.ops.delay import delay_node
from ..ir.stages import pipeline_stages


@dataclass(frozen=True)
class Delay:
    """One synchronous-neuron delay inserted by :func:`insert_synchronous_neurons`."""

    name: str
    source: str
    target: str
    steps: int

    def record(self) -> dict:
        """What a network's metadata keeps of the delay."""
        return {"after": self.source, "before": self.target, "steps": self.steps}


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


def _planned_delays(graph: Graph, period: int) -> dict[tuple[str, str], int]:
    """Delay in steps per edge (from, to) that brings every join's inputs to its deepest stage."""
    stages = pipeline_stages(graph)
    plan: dict[tuple[str, str], int] = {}
    for node in graph.nodes:
        if len(node.inputs) < 2:
            continue
        deepest = max(stages[i] for i in node.inputs)
        for source in node.inputs:
            lag = deepest - stages[source]
            if lag > 0:
                edge = _delay_edge(graph, node, source)
                plan[edge] = max(plan.get(edge, 0), lag * period)
    return plan


def insert_synchronous_neurons(graph: Graph, period: int) -> tuple[Graph, list[Delay]]:
    """``graph`` with delays that bring every join's inputs to the same pipeline stage.

    Parameters
    ----------
    graph : Graph
        The ANN graph.
    period : int
        Steps per cycle; a delay of one stage is ``period`` steps.

    Returns
    -------
    (Graph, list of Delay)
        The new graph (the ANN it computes is unchanged: a delay is the identity) and the delays.
    """
    plan = _planned_delays(graph, period)
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
                nodes.append(delay_node(name, source, steps))
                delays.append(Delay(name, source, node.name, steps))
                inputs[position] = name
        nodes.append(node.copy(inputs=tuple(inputs)) if inputs != list(node.inputs) else node)
    return Graph(nodes, graph.output, list(graph.notes), dict(graph.meta)), delays
