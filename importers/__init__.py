"""Importers from model formats into :class:`eventsim.ir.graph.Graph` (ONNX now; one subpackage each)."""

from .onnx import load_onnx, supported_ops, verify_onnx

__all__ = ["load_onnx", "supported_ops", "verify_onnx"]
