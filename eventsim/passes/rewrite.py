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
    return replace_pair(graph, first, second, [new_first, new_second])


def replace_pair(graph: Graph, first: Node, second: Node, new: list[Node]) -> Graph:
    """Replace the pair ``first → second`` (``second`` the only consumer of ``first``) by the chain
    ``new`` in the same place; the chain's last node takes ``second``'s name."""
    nodes = []
    for n in graph.nodes:
        if n is first:
            nodes += new
        elif n is not second:
            nodes.append(n.copy())
    return rebuild(graph, nodes)


def move_behind(graph: Graph, first: Node, second: Node, moved: Node) -> Graph:
    """Rewrite ``first → second`` (``second`` the only consumer of ``first``) as ``second → moved``,
    ``moved`` being ``first`` changed to act on ``second``'s output. Each node keeps its name (so a
    summary still shows which op came from which), the consumers of ``second`` read ``moved``, and
    ``moved`` takes ``second``'s source tensor, whose value it now computes."""
    nodes = []
    for n in graph.nodes:
        if n is first:
            nodes += [
                second.copy(inputs=first.inputs, source=None),
                moved.copy(inputs=(second.name,), source=second.source),
            ]
        elif n is not second:
            nodes.append(n.copy(inputs=tuple(first.name if i == second.name else i for i in n.inputs)))
    output = first.name if graph.output == second.name else graph.output
    return Graph(nodes, output, graph.notes, graph.meta)


def replace(graph: Graph, old: Node, new: Node, drop: Node, renames: dict[str, str] | None = None) -> Graph:
    """Put ``new`` in the place of ``old`` and remove ``drop``."""
    return rebuild(graph, [new if n is old else n.copy() for n in graph.nodes if n is not drop], renames)


def single_consumer(graph: Graph, name: str) -> Node | None:
    """The only consumer of ``name``, or None if it has several or it is the graph output."""
    users = graph.consumers(name)
    if len(users) != 1 or name == graph.output:
        return None
    return users[0]
