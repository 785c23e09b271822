"""One handler per ONNX op type, registered by decorator (after onnx2torch's registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import onnx

    from .context import ImportContext

Handler = Callable[["ImportContext", "onnx.NodeProto"], None]

HANDLERS: dict[str, Handler] = {}


def handler(*op_types: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the converter of the given ONNX op types (default domain); refuse twice."""

    def register(fn: Handler) -> Handler:
        for op_type in op_types:
            if op_type in HANDLERS:
                raise ValueError(f"ONNX op {op_type!r} has two handlers: {HANDLERS[op_type].__name__}, {fn.__name__}")
            HANDLERS[op_type] = fn
        return fn

    return register


def supported_ops() -> list[str]:
    """ONNX op types that the importer converts when they act on the network's data.

    Any op whose inputs are all constants (shape arithmetic, Constant, ...) is folded as well.
    """
    return sorted(HANDLERS)
