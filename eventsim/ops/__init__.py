"""Canonical graph ops: one spec each, looked up by name through :func:`get_op`."""

from . import activation, linear, pooling, structure  # noqa: F401  (registers the ops)
from .activation import qcfs
from .registry import OPS, OpSpec, get_op, register_op

__all__ = ["OPS", "OpSpec", "get_op", "register_op", "qcfs"]
