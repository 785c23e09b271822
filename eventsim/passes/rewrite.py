"""The small graph surgeries the passes are made of."""

from __future__ import annotations

from collections.abc import Callable

from ..ir.graph import Graph, Node


def rebuild(graph: Graph, nodes: list[Node], renames: dict[str, str] | None = None) -> Graph:
    """A new graph from ``nodes``, with inputs (and the output) renamed through ``renames``."""
    renames = renames or {}

    def resolve(name: str) -> str:
        while name in renames:
            name = renames[name]
        return name

    for node in nodes:
        node.inputs = tuple(resolve(i) for i in node.inputs)
    return Graph(nodes, resolve(graph.output), graph.notes, graph.meta)


def fixed_point(graph: Graph, rewrite: Callable[[Graph, Node], Graph | None]) -> Graph:
    """Apply ``rewrite`` at the first node where it applies, again, until it applies nowhere."""
    while True:
        for node in graph.nodes:
            rewritten = rewrite(graph, node)
            if rewritten is not None:
                graph = rewritten
                break
        else:
            return graph


def swap(graph: Graph, first: Node, second: Node, new_first: Node, new_second: Node) -> Graph:
    """Replace the pair ``first → second`` by ``new_first → new_second`` in the same place."""
    nodes = []
    for n in graph.nodes:
        if n is first:
            nodes += [new_first, new_second]
        elif n is not second:
            nodes.append(n.copy())
    return rebuild(graph, nodes)


def replace(graph: Graph, old: Node, new: Node, drop: Node, renames: dict[str, str] | None = None) -> Graph:
    """Put ``new`` in the place of ``old`` and remove ``drop``."""
    return rebuild(graph, [new if n is old else n.copy() for n in graph.nodes if n is not drop], renames)


def single_consumer(graph: Graph, name: str) -> Node | None:
    """The only consumer of ``name``, or None if it has several or it is the graph output."""
    users = graph.consumers(name)
    if len(users) != 1 or name == graph.output:
        return None
    return users[0]
