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


def fold_node(node: onnx.NodeProto, inputs: list[np.ndarray | None], opsets: list[onnx.OperatorSetIdProto],
              ir_version: int) -> list[np.ndarray]:
    """Evaluate ``node`` on constant ``inputs`` (None for an absent optional input)."""
    feeds, infos = {}, []
    for name, array in zip(node.input, inputs):
        if not name or array is None or name in feeds:
            continue
        tensor = numpy_helper.from_array(np.asarray(array), name)
        infos.append(helper.make_tensor_value_info(name, tensor.data_type, np.shape(array)))
        feeds[name] = np.asarray(array)
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
    model = helper.make_model(helper.make_graph([node], "fold", infos, outputs), opset_imports=opsets)
    model.ir_version = ir_version
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception as exc:  # the evaluator raises many kinds; all mean "cannot fold this node"
        raise UnsupportedError(
            f"{describe(node)}: cannot evaluate this constant computation ({type(exc).__name__}: {exc})",
            "simplify the model (e.g. with onnxsim) so that it has no such constant subgraph",
        ) from None
    return [np.asarray(r) for r in results]
