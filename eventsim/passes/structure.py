"""Passes that simplify the structure of a graph without changing what it computes: drop no-ops,
move element-wise ops in front of reshapes, let ops absorb their neighbours (reshape chains, zero
padding, affines after a conv/dense or the input) and swap pairs that commute so that max pooling
acts on spikes. Each op's spec decides what it can absorb or swap with."""

from __future__ import annotations

from ..ir.graph import Graph, Node
from .rewrite import fixed_point, move_behind, rebuild, replace, replace_pair, single_consumer, swap


def remove_noops(graph: Graph) -> Graph:
    """Drop nodes that pass their input through unchanged (identity affines, reshapes to the same
    shape, empty pads)."""
    nodes, renames = [], {}
    for node in graph.nodes:
        if node.inputs and node.spec.is_identity(node, [graph.node(i).shape for i in node.inputs]):
            renames[node.name] = node.inputs[0]
            _pass_source(graph, node, node.inputs[0], nodes)
        else:
            nodes.append(node.copy())
    return rebuild(graph, nodes, renames)


def _pass_source(graph: Graph, removed: Node, target: str, new_nodes: list[Node]) -> None:
    """Let the node that now produces ``removed``'s value carry its source tensor name."""
    for n in new_nodes:
        if n.name == target and removed.source and len(graph.consumers(target)) == 1:
            n.source = removed.source


def hoist_elementwise_over_reshape(graph: Graph) -> Graph:
    """Rewrite reshape → element-wise op as element-wise op → reshape (activations, scalar or
    per-channel affines; any op that only rearranges one input's values), so that they act on the
    conv/pool output itself."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = single_consumer(graph, node.name) if node.spec.rearranges else None
        if nxt is None:
            return None
        params = nxt.spec.params_before_reshape(nxt, graph.node(node.inputs[0]).shape, node.shape)
        if params is None:
            return None
        moved = nxt.copy(name=node.name, inputs=node.inputs, params=params, source=None)
        return swap(graph, node, nxt, moved, node.copy(name=nxt.name, inputs=(node.name,), source=nxt.source))

    return fixed_point(graph, rewrite)


def absorb_into_next(graph: Graph) -> Graph:
    """Let a node take over the work of its input when that node has no other consumer (reshape →
    reshape is one reshape; a zero pad joins the padding of the conv or average pool after it)."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        for name in node.inputs:
            previous = graph.node(name)
            if single_consumer(graph, name) is node:
                merged = node.spec.absorb_previous(node, previous)
                if merged is not None:
                    return replace(graph, node, merged, previous)
        return None

    return fixed_point(graph, rewrite)


def absorb_into_previous(graph: Graph) -> Graph:
    """Let a node take over the work of its only consumer (a per-channel affine — BatchNorm, bias
    adds, scalings — folds into the conv/dense before it; affines after the input become the input
    normalisation)."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = single_consumer(graph, node.name)
        merged = None if nxt is None else node.spec.absorb_next(node, nxt)
        if merged is None:
            return None
        return replace(graph, node, merged, nxt, {nxt.name: node.name})

    return fixed_point(graph, rewrite)


def swap_commuting(graph: Graph) -> Graph:
    """Rewrite ``a → b`` as ``b → a`` where ``a``'s op says they commute: maxpool → activation becomes
    activation → maxpool (valid for monotone activations), so that max pooling acts on spikes."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = single_consumer(graph, node.name)
        if nxt is None or not node.spec.commutes_with(node, nxt):
            return None
        return swap(
            graph,
            node,
            nxt,
            nxt.copy(name=node.name, inputs=node.inputs, source=None),
            node.copy(name=nxt.name, inputs=(node.name,), source=nxt.source),
        )

    return fixed_point(graph, rewrite)


def fold_affines_forward(graph: Graph) -> Graph:
    """Move a per-channel affine that no conv/dense before it absorbed (a BatchNorm after an
    activation, as Keras models place it) forward: behind the ops that commute with it exactly (max
    pooling for positive scales, average pooling without counted padding, reshapes, upsampling),
    into the conv or dense after it, which takes its scale into the weights and its shift into the
    bias. Max pooling then acts on spikes alone; the ops decide what commutes and what they absorb,
    and a max pool refuses an affine it cannot pass."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        channels = node.spec.channel_affine(node)
        nxt = single_consumer(graph, node.name) if channels is not None else None
        if nxt is None:
            return None
        absorbed = nxt.spec.absorb_affine_before(nxt, node, *channels)
        if absorbed is not None:
            return replace_pair(graph, node, nxt, absorbed)
        moved = nxt.spec.affine_after(nxt, node, *channels)
        if moved is None:
            return None
        return move_behind(graph, node, nxt, node.spec.with_channel_affine(node, *moved, nxt.shape))

    return fixed_point(graph, rewrite)


def move_pools_behind_activations(graph: Graph) -> Graph:
    """Rewrite ``pool → affine … → activation`` as ``affine … → activation → pool`` where the pool
    commutes with every element-wise non-decreasing map (max pooling whose windows all hold data,
    since ``f(max(a, b)) = max(f(a), f(b))``) and each node on the way is one (per-channel affines
    with scales >= 0, as a BatchNorm after the pool becomes; the activations). Conv → MaxPool → BN →
    ReLU then pools spikes, and the affine lands next to the conv, which absorbs it. A negative scale
    stops the move: the ops decide, and the pool's refusal stays the answer."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        chain = _nondecreasing_run(graph, node)
        return None if chain is None else _move_pool_behind(graph, node, chain)

    return fixed_point(graph, rewrite)


def _nondecreasing_run(graph: Graph, pool: Node) -> list[tuple[Node, Node]] | None:
    """The nodes after ``pool`` that may move in front of it, each with its copy acting on the pool's
    input: a run of single-consumer non-decreasing maps ending at the first activation; None if there
    is no such run or ``pool`` does not commute with them."""
    if len(pool.inputs) != 1:
        return None
    in_shape = graph.node(pool.inputs[0]).shape
    if not pool.spec.commutes_with_nondecreasing(pool, in_shape):
        return None
    chain, name = [], pool.name
    # the pool's value and every value inside the run must feed only the run: others need it pooled
    while (nxt := single_consumer(graph, name)) is not None:
        moved = nxt.spec.as_nondecreasing_map(nxt, in_shape)
        if moved is None:
            return None
        chain.append((nxt, moved))
        if nxt.spec.role == "activation":
            return chain
        name = nxt.name
    return None


def _move_pool_behind(graph: Graph, pool: Node, chain: list[tuple[Node, Node]]) -> Graph:
    """Put the moved copies of ``chain`` in ``pool``'s place, reading its input, and the pool after
    them. As in :func:`~.rewrite.move_behind` each node keeps its name, the consumers of the run's
    last node read the pool, and the pool takes that node's source tensor, whose value it now
    computes; the moved nodes compute unpooled values, which no source tensor holds."""
    last = chain[-1][0]
    moved, previous = [], pool.inputs[0]
    for _, node in chain:
        moved.append(node.copy(inputs=(previous,), source=None))
        previous = node.name
    dropped = {node.name for node, _ in chain}
    nodes = []
    for n in graph.nodes:
        if n is pool:
            nodes += moved + [pool.copy(inputs=(last.name,), source=last.source)]
        elif n.name not in dropped:
            nodes.append(n.copy(inputs=tuple(pool.name if i == last.name else i for i in n.inputs)))
    output = pool.name if graph.output == last.name else graph.output
    return Graph(nodes, output, graph.notes, graph.meta)
