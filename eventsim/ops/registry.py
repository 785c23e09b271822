"""The registry of canonical graph ops: one :class:`OpSpec` per op, in one place.

Each op's spec says how many inputs it takes, how its per-sample output shape follows from its
inputs and attributes (with the checks that make a node valid), how the ANN executor computes it on
a batch, and how many multiply-accumulates it costs per sample. The importers, the executor, the
passes and (later) the spiking engines all look an op up here, so adding an op means adding one
spec in one module of :mod:`eventsim.ops`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import ShapeError, UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Node

Shape = tuple[int, ...]

#: Roles an op can play in the spiking network it will become (see DESIGN.md, spiking semantics).
ROLES = ("input", "synaptic", "activation", "transient")


class OpSpec:
    """Behaviour of one canonical op; subclasses are registered with :func:`register_op`.

    Attributes
    ----------
    name : str
        The op's name in the graph (``node.op``).
    role : str
        ``"input"``; ``"synaptic"`` for linear ops that carry events between neuron layers;
        ``"activation"`` for ops that become neuron layers; ``"transient"`` for ops that only
        exist between import and the canonicalising passes (they must be fused away).
    min_inputs, max_inputs : int, int or None
        How many inputs a node of this op takes (``None``: no upper bound).
    """

    name: ClassVar[str] = ""
    role: ClassVar[str] = "synaptic"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    #: Attribute values that summaries leave out because they change nothing.
    quiet: ClassVar[dict[str, object]] = {}

    def infer_shape(self, node: Node, in_shapes: list[Shape]) -> Shape:
        """Return the per-sample output shape, raising :class:`ShapeError` if the node is invalid."""
        return in_shapes[0]

    def forward(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        """Compute the op on batched float32 inputs (batch axis first)."""
        raise NotImplementedError(f"op {self.name!r} has no forward")  # every registered op overrides

    def macs(self, node: Node, in_shapes: list[Shape]) -> int:
        """Multiply-accumulates per sample of the ANN computation (0 for ops without weights)."""
        return 0

    def describe(self, node: Node) -> str:
        """A short text of the node's attributes for summaries."""
        parts = []
        for key, value in node.attrs.items():
            if key in self.quiet and value == self.quiet[key]:
                continue
            if isinstance(value, float):
                value = f"{value:g}"
            elif isinstance(value, tuple):
                value = "x".join(str(v) for v in value) if value else "()"
            parts.append(f"{key}={value}")
        return " ".join(parts)


OPS: dict[str, OpSpec] = {}


def register_op(cls: type[OpSpec]) -> type[OpSpec]:
    """Class decorator: register an op spec under ``cls.name`` (refusing duplicates)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no op name")
    if cls.name in OPS:
        raise ValueError(f"op {cls.name!r} is registered twice ({type(OPS[cls.name]).__name__}, {cls.__name__})")
    if cls.role not in ROLES:
        raise ValueError(f"op {cls.name!r} has unknown role {cls.role!r}")
    OPS[cls.name] = cls()
    return cls


def get_op(name: str) -> OpSpec:
    """Return the spec of op ``name``; an unknown op is an :class:`UnsupportedError`."""
    try:
        return OPS[name]
    except KeyError:
        raise UnsupportedError(
            f"unknown graph op {name!r}", f"use one of the canonical ops: {', '.join(sorted(OPS))}"
        ) from None


def require(condition: bool, node: Node, problem: str, fix: str | None = None) -> None:
    """Raise a :class:`ShapeError` about ``node`` unless ``condition`` holds."""
    if not condition:
        raise ShapeError(f"node {node.name!r} ({node.op}): {problem}", fix)
