"""The two exact methods for the linear part of a conv or dense node over many rows at once.

A row is one (step, sample) pair of a chunk: all rows of a layer are independent, so both methods
treat them as one batch. *Events*: the node's event lowering (the same weights and geometry the
step-major event engine uses) drives a scatter kernel that touches only the non-zero inputs.
*Dense*: the op's own spike semantics (its ANN forward: im2col and a BLAS product), in parts of rows
small enough for the memory budget.
"""

from __future__ import annotations

import numba
import numpy as np

from ...errors import UnsupportedError
from ...ir.graph import Node
from ..threads import parallel_parts
from . import kernels
from .checks import check_conv, check_dense, check_rows

#: Lowering kernel → (scatter kernel, its argument check): the nodes that can run by events.
SCATTERS = {"conv": (kernels.conv_events, check_conv), "dense": (kernels.dense_events, check_dense)}


class GraphLayout:
    """The lowering context of the layer engine: values keep the graph's row-major layout."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], dynamic: dict[str, bool], amplitude: float) -> None:
        self._shapes, self._dynamic, self._amplitude = shapes, dynamic, amplitude

    def dynamic(self, name: str) -> bool:
        return self._dynamic[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._shapes[name]

    def engine_layout(self, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        lead = values.shape[: values.ndim - len(shape)]
        return np.ascontiguousarray(values).reshape(lead + (-1,))

    def engine_positions(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.arange(int(np.prod(shape)), dtype=np.int64)

    def position_map(self, src, dst, graph_map: np.ndarray) -> np.ndarray:
        return np.asarray(graph_map, np.int64)

    @property
    def input_amplitude(self) -> float:
        return self._amplitude


class LinearMethods:
    """Events and dense for one conv or dense node (module docstring).

    Parameters
    ----------
    node : Node
    in_shape : tuple of int
        Per-sample shape of its (one) input.
    layout : GraphLayout
    work_bytes : int
        Transient memory the dense method may use at once.
    """

    def __init__(self, node: Node, in_shape: tuple[int, ...], layout: GraphLayout, work_bytes: int) -> None:
        lowering = node.spec.lower_event(node, layout)
        if lowering.kernel not in SCATTERS:
            raise UnsupportedError(f"node {node.name!r} ({node.op}) has no event scatter in the layer engine")
        self.node, self.in_shape, self.kernel = node, tuple(in_shape), lowering.kernel
        self.scatter, check = SCATTERS[lowering.kernel]
        self.geometry = np.zeros(16, np.int64)
        self.geometry[: len(lowering.geometry)] = lowering.geometry
        width = int(self.geometry[3] // max(self.geometry[14], 1)) if self.kernel == "conv" else int(node.shape[0])
        self.weights = np.ascontiguousarray(np.asarray(lowering.floats, np.float32).reshape(-1, width))
        self.width = width
        self.inputs, self.outputs = int(np.prod(in_shape)), int(np.prod(node.shape))
        self.macs = node.spec.macs(node, [self.in_shape])
        check(self.geometry, self.weights, self.inputs, self.outputs)
        self.rows_per_call = max(1, work_bytes // max(1, node.spec.work_bytes(node, [self.in_shape])))
        self.bare = node.spec.without_constant(node)

    def events(self, rows: np.ndarray) -> np.ndarray:
        """The output (R, outputs) of ``rows`` (R, inputs), float32 C-contiguous, by event scatter."""
        check_rows(rows, self.inputs)
        out = np.empty((len(rows), self.outputs), np.float32)
        parts = min(len(rows), 4 * numba.get_num_threads())
        self.scatter(rows, self.weights, self.geometry, out, parts)
        return out

    def dense(self, rows: np.ndarray) -> np.ndarray:
        """The same output by the op's forward, in parts of at most ``rows_per_call`` rows that run
        on all cores at once (each with single-threaded BLAS: :mod:`.threads`)."""
        out = np.empty((len(rows), self.outputs), np.float32)
        forward, bare, shape = self.node.spec.forward, self.bare, self.in_shape

        def part(lo: int, hi: int) -> None:
            out[lo:hi] = forward(bare, [rows[lo:hi].reshape((-1,) + shape)]).reshape(hi - lo, -1)

        parallel_parts(part, len(rows), self.rows_per_call)
        return out
