"""Import ONNX models into eventsim graphs, and check them against onnxruntime."""

from .loader import load_onnx, read_model
from .registry import supported_ops
from .verify import VerifyReport, verify_onnx

__all__ = ["load_onnx", "read_model", "supported_ops", "verify_onnx", "VerifyReport"]
