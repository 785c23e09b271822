"""Pipeline stages: how many neuron layers deep each value of a graph is.

Kinds that work in phases (BSNN's cycles, TTFS's windows) schedule a layer by its stage, and the
synchronous neurons of :mod:`eventsim.passes.synchronous` equalise the stages of what a join adds.
"""

from __future__ import annotations

from .graph import Graph


def pipeline_stages(graph: Graph, period: int = 0, layer_stages: dict[str, int] | None = None) -> dict[str, int]:
    """Pipeline stage of every node's value.

    0 for the input; for a neuron layer its stage in ``layer_stages`` or one more than its input's; any
    other node takes the largest stage of its inputs plus the cycles of ``period`` steps it holds its
    value back (a delay: ``steps // period``; nothing without a ``period``).
    """
    layer_stages = layer_stages or {}
    stages: dict[str, int] = {}
    for node in graph.nodes:
        before = max((stages[i] for i in node.inputs), default=0)
        if node.spec.role == "activation":
            stages[node.name] = layer_stages.get(node.name, before + 1)
        else:
            stages[node.name] = before + node.spec.stage_delay(node, period)
    return stages
