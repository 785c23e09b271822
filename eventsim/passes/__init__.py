"""Graph passes: the canonicalising passes every import runs, and the synchronous neurons that
phase-scheduled conversions insert.

Every pass keeps the ANN function exactly (up to float rounding), which the executor tests check;
what a pass may do to a node is decided by the node's op spec, never by its name here.
"""

from __future__ import annotations

from ..errors import UnsupportedError
from ..ir.graph import Graph
from .activations import fuse_elementwise_chains
from .structure import (
    absorb_into_next,
    absorb_into_previous,
    fold_affines_forward,
    hoist_elementwise_over_reshape,
    move_pools_behind_activations,
    remove_noops,
    swap_commuting,
)


def canonicalize(graph: Graph) -> Graph:
    """Run every pass in order and check that no transient op is left.

    Element-wise ops move in front of reshapes first, so that 1-D ops (2-D ops between reshapes) and
    flattened activations fold like any other; chains are fused before affines are folded into convs
    or the input, which would swallow QCFS's scalings; a max pool followed by affines with scales >= 0
    (a BatchNorm) and an activation moves behind them first, so that the affine reaches the conv
    before the pool and folds into it; affines left after an activation (a BatchNorm after it) then
    move forward into the next conv/dense, behind any max pool on the way; max pooling moves behind
    its activation last.

    Parameters
    ----------
    graph : Graph
        A graph as the importer produced it.

    Returns
    -------
    Graph
        An equivalent graph in canonical ops.
    """
    for step in (
        remove_noops,
        hoist_elementwise_over_reshape,
        absorb_into_next,
        remove_noops,
        fuse_elementwise_chains,
        move_pools_behind_activations,
        absorb_into_previous,
        absorb_into_next,  # again: removing no-ops and fusing chains brings pads next to their conv
        fold_affines_forward,
        swap_commuting,
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


__all__ = ["canonicalize"]
