"""The framework-independent graph (IR): nodes of canonical ops, their specs, the ANN executor and the
graph's file form."""

from .executor import run_ann
from .graph import Graph, Node
from .ops import OPS, OpSpec, get_op, register_op
from .stages import pipeline_stages

__all__ = ["Graph", "Node", "OPS", "OpSpec", "get_op", "register_op", "run_ann", "pipeline_stages"]
