"""Constant folding: nodes whose inputs are all constants are evaluated at import time.

This covers Constant, the shape arithmetic of dynamic-batch exports (Shape → Gather → Unsqueeze →
Concat → Reshape) and any other computation on weights, using onnx's own reference evaluator so
every op and opset is evaluated by its specification.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from eventsim.errors import UnsupportedError

from .context import describe


class _MissingVersion(Exception):
    """The reference evaluator has no implementation of the node's op at this opset."""


def fold_node(
    node: onnx.NodeProto, inputs: list[np.ndarray | None], opsets: list[onnx.OperatorSetIdProto], ir_version: int
) -> list[np.ndarray]:
    """Evaluate ``node`` on constant ``inputs`` (None for an absent optional input)."""
    feeds, infos = {}, []
    for name, array in zip(node.input, inputs):
        if not name or array is None or name in feeds:
            continue
        tensor = numpy_helper.from_array(np.asarray(array), name)
        infos.append(helper.make_tensor_value_info(name, tensor.data_type, np.shape(array)))
        feeds[name] = np.asarray(array)
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    try:
        return _evaluate(node, infos, outputs, opsets, ir_version, feeds)
    except _MissingVersion:
        # onnx's reference evaluator lacks some old versions of ops (DequantizeLinear before 19):
        # evaluate at the newest opset, whose definition extends the old ones for these inputs
        newest = [helper.make_opsetid("", onnx.defs.onnx_opset_version())] + [o for o in opsets if o.domain]
        return _evaluate(node, infos, outputs, newest, max(ir_version, onnx.IR_VERSION), feeds)


def _evaluate(node, infos, outputs, opsets, ir_version: int, feeds) -> list[np.ndarray]:
    model = helper.make_model(helper.make_graph([node], "fold", infos, outputs), opset_imports=opsets)
    model.ir_version = ir_version
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except RuntimeError as exc:
        if "No implementation for operator" in str(exc):
            raise _MissingVersion(str(exc)) from None
        raise _cannot_fold(node, exc) from None
    except Exception as exc:  # the evaluator raises many kinds; all mean "cannot fold this node"
        raise _cannot_fold(node, exc) from None
    return [np.asarray(r) for r in results]


def _cannot_fold(node: onnx.NodeProto, exc: Exception) -> UnsupportedError:
    return UnsupportedError(
        f"{describe(node)}: cannot evaluate this constant computation ({type(exc).__name__}: {exc})",
        "simplify the model (e.g. with onnxsim) so that it has no such constant subgraph",
    )
