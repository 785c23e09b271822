"""Graph passes that bring an imported graph into canonical form (DESIGN.md, "The graph").

They fold BatchNorm-like affines into the preceding conv/dense and the input normalisation into the
input node, merge chains of clips, recognise QCFS activations, fold zero padding into the window op
that follows, and move max-pooling behind the activation so that it acts on spikes. Every pass
keeps the ANN function exactly (up to float rounding), which the executor tests check.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .errors import UnsupportedError
from .graph import Graph, Node
from .ops import qcfs

#: Element-wise ops that a QCFS or clip chain may consist of.
_CHAIN_OPS = ("affine", "relu", "clip", "floor")
#: More quantisation levels than this are not a QCFS activation (and would defeat the probe grid).
_MAX_QCFS_LEVELS = 1024
#: Element-wise ops without parameters (they commute with any reshape).
_PARAMLESS = ("relu", "clip", "qcfs", "floor")
#: Monotone non-decreasing activations, which commute with max pooling.
_MONOTONE = ("relu", "clip", "qcfs")


def canonicalize(graph: Graph) -> Graph:
    """Run every pass in order and check that no transient op is left.

    Parameters
    ----------
    graph : Graph
        A graph as the importer produced it.

    Returns
    -------
    Graph
        An equivalent graph in canonical ops.
    """
    # element-wise ops move in front of reshapes first, so that 1-D ops (2-D ops between reshapes)
    # and flattened activations fold like any other; chains are fused before affines are folded
    # into convs or the input, which would swallow QCFS's scalings
    for step in (
        remove_noops,
        hoist_elementwise_over_reshape,
        merge_reshapes,
        remove_noops,
        fuse_elementwise_chains,
        fold_input_affine,
        fold_affine_into_linear,
        fold_pad,
        move_maxpool_after_activation,
    ):
        graph = step(graph)
    for node in graph.nodes:
        if node.spec.role == "transient":
            raise UnsupportedError(
                f"node {node.name!r} ({node.op}, from {node.source!r}) is not part of a supported pattern",
                "eventsim supports Floor only inside a QCFS activation "
                "(Div → Clip → Mul → Add 0.5 → Floor → Div → Mul)",
            )
    return graph


# -- helpers -----------------------------------------------------------------------------------
def _rebuild(graph: Graph, nodes: list[Node], renames: dict[str, str] | None = None) -> Graph:
    """A new graph from ``nodes``, with inputs (and the output) renamed through ``renames``."""
    renames = renames or {}

    def resolve(name: str) -> str:
        while name in renames:
            name = renames[name]
        return name

    for node in nodes:
        node.inputs = tuple(resolve(i) for i in node.inputs)
    return Graph(nodes, resolve(graph.output), graph.notes, graph.meta)


def _fixed_point(graph: Graph, rewrite: Callable[[Graph, Node], Graph | None]) -> Graph:
    """Apply ``rewrite`` at the first node where it applies, again, until it applies nowhere."""
    while True:
        for node in graph.nodes:
            rewritten = rewrite(graph, node)
            if rewritten is not None:
                graph = rewritten
                break
        else:
            return graph


def _swap(graph: Graph, first: Node, second: Node, new_first: Node, new_second: Node) -> Graph:
    """Replace the pair ``first → second`` by ``new_first → new_second`` in the same place."""
    nodes = []
    for n in graph.nodes:
        if n is first:
            nodes += [new_first, new_second]
        elif n is not second:
            nodes.append(n.copy())
    return _rebuild(graph, nodes)


def _replace(graph: Graph, old: Node, new: Node, drop: Node, renames: dict[str, str] | None = None) -> Graph:
    """Put ``new`` in the place of ``old`` and remove ``drop``."""
    return _rebuild(graph, [new if n is old else n.copy() for n in graph.nodes if n is not drop], renames)


def _single_consumer(graph: Graph, name: str) -> Node | None:
    """The only consumer of ``name``, or None if it has several or it is the graph output."""
    users = graph.consumers(name)
    if len(users) != 1 or name == graph.output:
        return None
    return users[0]


def _is_identity_affine(node: Node) -> bool:
    return node.op == "affine" and bool(np.all(node.params["scale"] == 1) and np.all(node.params["shift"] == 0))


def _is_scalar_affine(node: Node) -> bool:
    return node.op == "affine" and node.params["scale"].size == 1 and node.params["shift"].size == 1


# -- passes ------------------------------------------------------------------------------------
def remove_noops(graph: Graph) -> Graph:
    """Drop identity affines, reshapes to the same shape and empty pads."""
    nodes, renames = [], {}
    for node in graph.nodes:
        src = graph.node(node.inputs[0]).shape if node.inputs else None
        noop = (
            _is_identity_affine(node)
            or (node.op == "reshape" and tuple(node.attrs["shape"]) == src)
            or (node.op == "pad" and not any(node.attrs["pads"]))
        )
        if noop:
            renames[node.name] = node.inputs[0]
            _pass_source(graph, node, node.inputs[0], nodes)
        else:
            nodes.append(node.copy())
    return _rebuild(graph, nodes, renames)


def _pass_source(graph: Graph, removed: Node, target: str, new_nodes: list[Node]) -> None:
    """Let the node that now produces ``removed``'s value carry its source tensor name."""
    for n in new_nodes:
        if n.name == target and removed.source and len(graph.consumers(target)) == 1:
            n.source = removed.source


def _params_before_reshape(node: Node, src: tuple[int, ...], dst: tuple[int, ...]) -> dict | None:
    """``node``'s params for acting on the reshape's input instead of its output, or None."""
    if node.op in _PARAMLESS:
        return {}
    if node.op != "affine":
        return None
    params = {}
    for key, param in node.params.items():
        if param.size == 1:
            params[key] = param.reshape(())
            continue
        per_ch = _per_channel(param, dst) if src[0] == dst[0] else None
        if per_ch is None:
            return None
        params[key] = per_ch.reshape((-1,) + (1,) * (len(src) - 1))
    return params


def hoist_elementwise_over_reshape(graph: Graph) -> Graph:
    """Rewrite reshape → element-wise op as element-wise op → reshape (activations, scalar or
    per-channel affines), so that they act on the conv/pool output itself."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = _single_consumer(graph, node.name) if node.op == "reshape" else None
        params = None if nxt is None else _params_before_reshape(nxt, graph.node(node.inputs[0]).shape, node.shape)
        if params is None:
            return None
        moved = nxt.copy(name=node.name, inputs=node.inputs, params=params, source=None)
        return _swap(graph, node, nxt, moved, node.copy(name=nxt.name, inputs=(node.name,), source=nxt.source))

    return _fixed_point(graph, rewrite)


def merge_reshapes(graph: Graph) -> Graph:
    """Replace reshape → reshape by the second reshape alone."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        first = graph.node(node.inputs[0]) if node.op == "reshape" else None
        if first is None or first.op != "reshape" or _single_consumer(graph, first.name) is not node:
            return None
        return _replace(graph, node, node.copy(inputs=first.inputs), first)

    return _fixed_point(graph, rewrite)


def fold_input_affine(graph: Graph) -> Graph:
    """Merge affines that directly follow the input into the input's normalisation."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = _single_consumer(graph, node.name) if node.op == "input" else None
        if nxt is None or nxt.op != "affine":
            return None
        merged = node.copy(
            params={
                "scale": node.params["scale"] * nxt.params["scale"],
                "shift": node.params["shift"] * nxt.params["scale"] + nxt.params["shift"],
            },
            source=nxt.source,
        )
        return _replace(graph, node, merged, nxt, {nxt.name: node.name})

    return _fixed_point(graph, rewrite)


def _per_channel(param: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``param`` as one value per channel (axis 0) if it is constant over the other axes."""
    full = np.broadcast_to(param, shape)
    per_ch = full.reshape(shape[0], -1)[:, :1]
    if not np.all(full.reshape(shape[0], -1) == per_ch):
        return None
    return per_ch[:, 0]


def fold_affine_into_linear(graph: Graph) -> Graph:
    """Fold per-channel affines (BatchNorm, bias adds, scalings) into the conv/dense before them."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = _single_consumer(graph, node.name) if node.op in ("conv", "dense") else None
        if nxt is None or nxt.op != "affine":
            return None
        scale = _per_channel(nxt.params["scale"], node.shape)
        shift = _per_channel(nxt.params["shift"], node.shape)
        if scale is None or shift is None:
            return None
        w = node.params["W"] * scale.reshape((-1,) + (1,) * (node.params["W"].ndim - 1))
        folded = node.copy(params={"W": w, "b": node.params["b"] * scale + shift}, source=nxt.source)
        return _replace(graph, node, folded, nxt, {nxt.name: node.name})

    return _fixed_point(graph, rewrite)


def _chain_from(graph: Graph, node: Node) -> list[Node]:
    """The maximal run of single-consumer element-wise nodes around ``node`` (scalar affines only)."""

    def member(n: Node) -> bool:
        return n.op in _CHAIN_OPS and (n.op != "affine" or _is_scalar_affine(n))

    chain = [node]
    while True:
        prev = graph.node(chain[0].inputs[0])
        if not member(prev) or _single_consumer(graph, prev.name) is not chain[0]:
            break
        chain.insert(0, prev)
    while True:
        nxt = _single_consumer(graph, chain[-1].name)
        if nxt is None or not member(nxt):
            break
        chain.append(nxt)
    return chain


def _run_chain(chain: list[Node], z: np.ndarray) -> np.ndarray:
    """Apply an element-wise chain to probe values ``z`` (scalar affines keep z's shape)."""
    for n in chain:
        if n.op == "affine":
            n = n.copy(params={k: v.reshape(()) for k, v in n.params.items()})
        z = n.spec.forward(n, [z]).astype(np.float32)
    return z


def _identify_qcfs(chain: list[Node]) -> tuple[int, float] | None:
    """(L, λ) if the chain computes a QCFS activation, judged on a dense probe grid."""
    big = np.array([[-1e6], [1e6]], np.float32)
    low, lam = (float(v) for v in _run_chain(chain, big)[:, 0])
    if not (math.isfinite(lam) and lam > 0 and low == 0):
        return None
    z = np.linspace(-0.25 * lam, 1.25 * lam, 20001, dtype=np.float32)[:, None]
    f = _run_chain(chain, z)[:, 0]
    levels = len(np.unique(np.round(f / lam, 6))) - 1
    if not 1 <= levels <= _MAX_QCFS_LEVELS:
        return None
    # rounding may place a probe on the other side of a step edge lam*(k + 1/2)/L: skip those probes
    u = z[:, 0].astype(np.float64) * levels / lam - 0.5
    away = np.abs(u - np.round(u)) * lam / levels > 1e-4 * lam
    if not np.allclose(f[away], qcfs(z, levels, lam)[away, 0], rtol=1e-5, atol=1e-6 * lam):
        return None
    return levels, lam


def _qcfs_subchain(chain: list[Node]) -> tuple[list[Node], tuple[int, float]]:
    """The longest run of ``chain`` around its Floor that computes a QCFS activation, and (L, λ)."""
    floor_at = next(i for i, n in enumerate(chain) if n.op == "floor")
    runs = [(i, j) for i in range(floor_at + 1) for j in range(floor_at + 1, len(chain) + 1)]
    for i, j in sorted(runs, key=lambda r: r[0] - r[1]):
        found = _identify_qcfs(chain[i:j])
        if found is not None:
            return chain[i:j], found
    floor = chain[floor_at]
    raise UnsupportedError(
        f"node {floor.name!r} (Floor, from {floor.source!r}) is in an element-wise chain "
        f"({' → '.join(n.op for n in chain)}) that is not a QCFS activation",
        "eventsim supports Floor only inside QCFS: h(z) = λ·floor(L·clip(z/λ, 0, 1) + 1/2)/L",
    )


def _compose_clips(chain: list[Node]) -> tuple[float, float]:
    lo, hi = -math.inf, math.inf
    for n in chain:
        a, b = (0.0, math.inf) if n.op == "relu" else (n.attrs["lo"], n.attrs["hi"])
        # clamp[a,b] after clamp[lo,hi] is clamp[clamp(lo; a,b), clamp(hi; a,b)]
        lo, hi = min(max(lo, a), b), min(max(hi, a), b)
    return lo, hi


def fuse_elementwise_chains(graph: Graph) -> Graph:
    """Recognise QCFS chains (with a Floor) as ``qcfs(L, λ)``; merge runs of relu/clip into one."""
    done: set[str] = set()
    while True:
        target = None
        for node in graph.nodes:
            if node.name in done or node.op not in ("floor", "relu", "clip"):
                continue
            chain = _chain_from(graph, node)
            has_floor = any(n.op == "floor" for n in chain)
            if not has_floor:
                chain = _clip_run(chain, node)
                if len(chain) == 1 and not _relu_like(chain[0]):
                    done.add(node.name)
                    continue
            target = chain
            break
        if target is None:
            return graph
        last = target[-1]
        if any(n.op == "floor" for n in target):
            target, found = _qcfs_subchain(target)
            last = target[-1]
            fused = Node(
                last.name, "qcfs", (target[0].inputs[0],), {"levels": found[0], "lam": found[1]}, source=last.source
            )
        else:
            lo, hi = _compose_clips(target)
            if lo == 0 and hi == math.inf:
                fused = Node(last.name, "relu", (target[0].inputs[0],), source=last.source)
            else:
                fused = Node(last.name, "clip", (target[0].inputs[0],), {"lo": lo, "hi": hi}, source=last.source)
        done.add(fused.name)
        drop = {n.name for n in target}
        nodes = []
        for n in graph.nodes:
            if n is last:
                nodes.append(fused)
            elif n.name not in drop:
                nodes.append(n.copy())
        graph = _rebuild(graph, nodes)


def _clip_run(chain: list[Node], node: Node) -> list[Node]:
    """The run of relu/clip nodes in ``chain`` that contains ``node``."""
    i = chain.index(node)
    j = i
    while i > 0 and chain[i - 1].op in ("relu", "clip"):
        i -= 1
    while j + 1 < len(chain) and chain[j + 1].op in ("relu", "clip"):
        j += 1
    return chain[i : j + 1]


def _relu_like(node: Node) -> bool:
    """A clip that is really a relu (and should be written as one)."""
    return node.op == "clip" and node.attrs["lo"] == 0 and node.attrs["hi"] == math.inf


def fold_pad(graph: Graph) -> Graph:
    """Fold a zero ``pad`` into the conv (or count-include-pad avgpool) that alone consumes it."""

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        nxt = _single_consumer(graph, node.name) if node.op == "pad" else None
        if nxt is None or not (nxt.op == "conv" or (nxt.op == "avgpool" and nxt.attrs["count_include_pad"])):
            return None
        merged = nxt.copy(inputs=node.inputs)
        merged.attrs["pads"] = tuple(a + b for a, b in zip(node.attrs["pads"], nxt.attrs["pads"]))
        return _replace(graph, nxt, merged, node)

    return _fixed_point(graph, rewrite)


def move_maxpool_after_activation(graph: Graph) -> Graph:
    """Rewrite maxpool → activation as activation → maxpool so that max pooling acts on spikes.

    Valid because the activations are monotone non-decreasing: f(max x) = max f(x).
    """

    def rewrite(graph: Graph, node: Node) -> Graph | None:
        act = _single_consumer(graph, node.name) if node.op == "maxpool" else None
        if act is None or act.op not in _MONOTONE:
            return None
        return _swap(
            graph,
            node,
            act,
            act.copy(name=node.name, inputs=node.inputs, source=None),
            node.copy(name=act.name, inputs=(node.name,), source=act.source),
        )

    return _fixed_point(graph, rewrite)
