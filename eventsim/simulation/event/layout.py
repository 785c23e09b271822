"""The event engine's memory layout: (C, H, W) values are stored channels-last (HWC), so that a
spike's fan-out is a run of contiguous rows of C_out weights; other shapes keep the graph's order."""

from __future__ import annotations

import numpy as np


def internal_index(shape: tuple[int, ...]) -> np.ndarray:
    """For each row-major (graph) position of a value of ``shape``, its position in the engine."""
    if len(shape) != 3:
        return np.arange(int(np.prod(shape)), dtype=np.int64)
    c, h, w = np.meshgrid(*(np.arange(d) for d in shape), indexing="ij")
    return ((h * shape[2] + w) * shape[0] + c).ravel().astype(np.int64)


def to_internal(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reorder ``values`` (..., *shape) in graph layout into (..., size) engine layout."""
    lead = values.shape[: values.ndim - len(shape)]
    flat = values.reshape(lead + (-1,))
    out = np.empty_like(flat)
    out[..., internal_index(shape)] = flat
    return out


def to_graph(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`to_internal`: (..., size) engine layout into (..., *shape) graph layout."""
    lead = values.shape[:-1]
    return values[..., internal_index(shape)].reshape(lead + tuple(shape))


def channel_of(shape: tuple[int, ...]) -> np.ndarray:
    """Channel (axis 0 of the graph shape) of every engine position."""
    size = int(np.prod(shape))
    channel = np.arange(size, dtype=np.int64) // max(1, size // shape[0])
    return to_internal(channel, shape)


def position_map(src_shape: tuple[int, ...], dst_shape: tuple[int, ...], graph_dst_of_src: np.ndarray) -> np.ndarray:
    """Engine position in the destination for each engine position of the source, given the graph
    position in the destination of each graph position of the source."""
    src_graph_of_internal = np.empty(int(np.prod(src_shape)), np.int64)
    src_graph_of_internal[internal_index(src_shape)] = np.arange(src_graph_of_internal.size)
    return internal_index(dst_shape)[graph_dst_of_src[src_graph_of_internal]]
