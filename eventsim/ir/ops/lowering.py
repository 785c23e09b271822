"""What an op tells the event engine about a node that carries spikes: which of the engine's
kernels runs it and with which parameters (``OpSpec.lower_event``).

The op says it in the engine's memory layout, which it reaches through the
:class:`LoweringContext` the engine passes in, so no op imports the engine (or Numba). The engine
checks every index before a kernel sees it (:mod:`eventsim.simulation.event.program`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: Length of a geometry row; window ops fill it as :func:`window_geometry` says.
GEOMETRY = 16


@dataclass
class EventLowering:
    """One node's part of the event program.

    Attributes
    ----------
    kernel : str
        Name of the event kernel that runs the node (``"conv"``, ``"dense"``, ``"avgpool"``,
        ``"maxpool"``, ``"add"``, ``"affine"``, ``"delay"``, ``"map"``, ``"spread"``, ``"input"``; neuron
        layers are lowered by the engine itself).
    geometry : tuple of int
        Up to :data:`GEOMETRY` integers the kernel reads (shapes, kernel size, strides, ...).
    floats : numpy.ndarray or None
        Float parameters in the engine's layout (weights, divisors, scales).
    index_maps : tuple of numpy.ndarray
        Integer position maps, one per input that carries spikes (``map``) or one in all (``input``,
        ``spread``).
    float_work, int_work : int
        Per-sample workspace the kernel needs (accumulators, cumulative counts, touched lists).
    dense_output : bool
        The kernel leaves its output in a dense accumulator that a neuron layer may read directly
        (it emits events only for other consumers).
    """

    kernel: str
    geometry: tuple[int, ...] = ()
    floats: np.ndarray | None = None
    index_maps: tuple[np.ndarray, ...] = field(default_factory=tuple)
    float_work: int = 0
    int_work: int = 0
    dense_output: bool = False


class LoweringContext(Protocol):
    """What the event engine offers an op while lowering a node."""

    def dynamic(self, name: str) -> bool:
        """Whether node ``name`` carries spikes."""

    def shape(self, name: str) -> tuple[int, ...]:
        """Per-sample shape of node ``name``."""

    def engine_layout(self, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """``values`` (..., *shape) in graph layout as (..., size) in the engine's layout."""

    def engine_positions(self, shape: tuple[int, ...]) -> np.ndarray:
        """Engine position of every graph (row-major) position of a value of ``shape``."""

    def position_map(self, src: tuple[int, ...], dst: tuple[int, ...], graph_map: np.ndarray) -> np.ndarray:
        """Engine position in ``dst`` of every engine position of ``src``, given the graph position in
        ``dst`` of every graph position of ``src``."""

    @property
    def input_amplitude(self) -> float:
        """What one input spike carries before the input normalisation."""


def window_geometry(
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
    groups: int = 1,
) -> tuple[int, ...]:
    """The geometry row of a window op: input (C, H, W), output (C, H, W), kernel (kh, kw), stride,
    top and left pads, dilation, groups."""
    return (*in_shape, *out_shape, *kernel, *stride, pads[0], pads[1], *dilation, groups)


def map_lowering(node, ctx: LoweringContext, graph_maps: list[np.ndarray]) -> EventLowering:
    """Lowering of an op that only moves values (reshape, pad, concat): ``graph_maps[i]`` is the graph
    position in the output of every graph position of input i; inputs without spikes are left out."""
    maps = tuple(
        ctx.position_map(ctx.shape(name), node.shape, graph_map)
        for name, graph_map in zip(node.inputs, graph_maps)
        if ctx.dynamic(name)
    )
    return EventLowering("map", index_maps=maps)
