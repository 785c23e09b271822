"""Fusion of element-wise activation chains: runs of relu/clip become one activation, and QCFS
chains with a Floor (Div → Clip → Mul → Add 0.5 → Floor → Div → Mul, in the orders exporters write)
are recognised as ``qcfs(L, λ)`` by evaluating them on a dense probe grid."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError
from ..ir.graph import Graph, Node
from ..ir.ops.clip import clip_node
from ..ir.ops.qcfs import qcfs, qcfs_node
from .rewrite import rebuild, single_consumer

#: More quantisation levels than this are not a QCFS activation (and would defeat the probe grid).
_MAX_QCFS_LEVELS = 1024


def _quantiser(node: Node) -> bool:
    """A transient link (Floor) that only a QCFS chain may hold."""
    return node.spec.role == "transient"


def _chain_from(graph: Graph, node: Node) -> list[Node]:
    """The maximal run of single-consumer chain links around ``node``."""
    chain = [node]
    while True:
        prev = graph.node(chain[0].inputs[0])
        if not prev.spec.chain_link(prev) or single_consumer(graph, prev.name) is not chain[0]:
            break
        chain.insert(0, prev)
    while True:
        nxt = single_consumer(graph, chain[-1].name)
        if nxt is None or not nxt.spec.chain_link(nxt):
            break
        chain.append(nxt)
    return chain


def _run_chain(chain: list[Node], z: np.ndarray) -> np.ndarray:
    """Apply an element-wise chain to probe values ``z`` (scalar params keep z's shape)."""
    for n in chain:
        if n.params:
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
    floor_at = next(i for i, n in enumerate(chain) if _quantiser(n))
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
        a, b = n.spec.clip_bounds(n)
        # clamp[a,b] after clamp[lo,hi] is clamp[clamp(lo; a,b), clamp(hi; a,b)]
        lo, hi = min(max(lo, a), b), min(max(hi, a), b)
    return lo, hi


def _clip_run(chain: list[Node], node: Node) -> list[Node]:
    """The run of clamping nodes (relu, clip) in ``chain`` that contains ``node``."""
    i = j = chain.index(node)
    while i > 0 and chain[i - 1].spec.clip_bounds(chain[i - 1]) is not None:
        i -= 1
    while j + 1 < len(chain) and chain[j + 1].spec.clip_bounds(chain[j + 1]) is not None:
        j += 1
    return chain[i : j + 1]


def _fusion(graph: Graph, node: Node) -> tuple[list[Node], Node] | None:
    """The chain through ``node`` and the one node that replaces it, or None if it stays as it is."""
    chain = _chain_from(graph, node)
    if any(_quantiser(n) for n in chain):
        target, (levels, lam) = _qcfs_subchain(chain)
        last = target[-1]
        return target, qcfs_node(last.name, target[0].inputs[0], levels, lam, last.source)
    chain = _clip_run(chain, node)
    last = chain[-1]
    fused = clip_node(last.name, chain[0].inputs[0], *_compose_clips(chain), last.source)
    if len(chain) == 1 and fused.op == node.op:
        return None  # a single relu or clip that is already in its simplest form
    return chain, fused


def fuse_elementwise_chains(graph: Graph) -> Graph:
    """Recognise QCFS chains (with a Floor) as ``qcfs(L, λ)``; merge runs of relu/clip into one."""
    done: set[str] = set()
    while True:
        found = None
        for node in graph.nodes:
            starts = _quantiser(node) or node.spec.clip_bounds(node) is not None
            if node.name in done or not starts:
                continue
            found = _fusion(graph, node)
            if found is not None:
                break
            done.add(node.name)
        if found is None:
            return graph
        chain, fused = found
        done.add(fused.name)
        drop = {n.name for n in chain}
        nodes = [fused if n is chain[-1] else n.copy() for n in graph.nodes if n is chain[-1] or n.name not in drop]
        graph = rebuild(graph, nodes)
