"""Canonical graph ops: one module and one spec each, looked up by name through :func:`get_op`."""

from . import (  # noqa: F401  (each module registers its op)
    add,
    affine,
    avgpool,
    clip,
    concat,
    conv,
    delay,
    dense,
    floor,
    input,
    maxpool,
    pad,
    qcfs,
    relu,
    reshape,
    upsample,
)
from .base import OPS, OpSpec, get_op, register_op

__all__ = ["OPS", "OpSpec", "get_op", "register_op"]
