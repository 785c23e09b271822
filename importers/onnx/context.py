"""State of one ONNX import: the graph being built, constants, and how ONNX tensors map to it.

An ONNX tensor that depends on the data becomes a :class:`Value`: the graph node that computes it
plus the layout in which ONNX sees it. Transposes (channels-last exporters) are not emitted as
nodes: they change a value's ``perm``, and a flattened permuted tensor carries a ``flat_order``
that the next dense layer absorbs into its weight columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from eventsim.errors import ShapeError, UnsupportedError
from eventsim.ir.graph import Node
from eventsim.ir.ops import get_op

#: Stands for the batch size in constants computed from ``Shape`` of a data tensor.
BATCH = 1_000_003


@dataclass(frozen=True)
class Value:
    """A data-dependent ONNX tensor: ``onnx_view = output_of(node).transpose(perm)`` per sample,
    or, for flat values with ``flat_order``, ``onnx_view[i] = output_of(node)[flat_order[i]]``."""

    node: str
    perm: tuple[int, ...]
    flat_order: np.ndarray | None = None

    @property
    def standard(self) -> bool:
        return self.perm == tuple(range(len(self.perm))) and self.flat_order is None


class ImportContext:
    """What handlers use to read inputs, check attributes and emit graph nodes."""

    def __init__(
        self,
        opset: int,
        used_names: set[str],
        graph_outputs: set[str],
        static_batch: int | None,
        opset_imports: list | None = None,
        ir_version: int | None = None,
    ) -> None:
        self.opset = opset
        self.opset_imports = opset_imports or []  # the model's, for evaluating nodes by onnx's reference
        self.ir_version = ir_version
        self.used = used_names
        self.graph_outputs = graph_outputs
        self.static_batch = static_batch
        self.nodes: list[Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.consts: dict[str, np.ndarray] = {}
        self.values: dict[str, Value] = {}
        self.notes: list[str] = []
        self.dropped_output_op: str | None = None  # Softmax/LogSoftmax removed at the output
        self._names: set[str] = set()

    # -- reading -------------------------------------------------------------------------------
    def is_const(self, name: str) -> bool:
        return name in self.consts

    def value(self, node: onnx.NodeProto, index: int) -> Value:
        """Input ``index`` of ``node`` as a data value (refusing constants)."""
        name = node.input[index]
        if name in self.values:
            return self.values[name]
        raise UnsupportedError(
            f"{describe(node)}: input {index} ({name!r}) is a constant where eventsim needs data",
            "eventsim converts layers whose data input comes from the network input",
        )

    def const(self, node: onnx.NodeProto, index: int, what: str) -> np.ndarray | None:
        """Input ``index`` of ``node`` as a constant array; None if the input is absent."""
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        if name in self.consts:
            return self.consts[name]
        raise UnsupportedError(
            f"{describe(node)}: {what} (input {index}, {name!r}) must be a constant (initializer)",
            "export the model with its weights as initializers (e.g. torch.onnx.export in eval mode)",
        )

    def shape(self, value: Value) -> tuple[int, ...]:
        """Per-sample shape of ``value`` as ONNX sees it."""
        internal = self.shapes[value.node]
        return tuple(internal[p] for p in value.perm)

    def attrs(self, node: onnx.NodeProto, allowed: dict[str, object]) -> dict[str, object]:
        """The node's attributes as Python values, defaults filled in; unknown ones are refused."""
        out = dict(allowed)
        for attr in node.attribute:
            if attr.name not in allowed:
                raise UnsupportedError(
                    f"{describe(node)}: attribute {attr.name!r} is not supported",
                    f"supported attributes of {node.op_type}: {', '.join(sorted(allowed)) or 'none'}",
                )
            value = helper.get_attribute_value(attr)
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, list):
                value = tuple(value)
            out[attr.name] = value
        return out

    def output_used(self, node: onnx.NodeProto, index: int) -> bool:
        return index < len(node.output) and bool(node.output[index]) and node.output[index] in self.used

    # -- writing -------------------------------------------------------------------------------
    def emit(
        self,
        op: str,
        inputs: list[Value] | list[str],
        attrs: dict | None = None,
        params: dict[str, np.ndarray] | None = None,
        source: str | None = None,
        perm: tuple[int, ...] | None = None,
    ) -> Value:
        """Add a graph node and return its output as a standard-layout value."""
        names = [i.node if isinstance(i, Value) else i for i in inputs]
        name = self._unique(source or op)
        node = Node(name, op, tuple(names), attrs or {}, params or {}, source=source)
        node.shape = tuple(get_op(op).infer_shape(node, [self.shapes[i] for i in names]))
        self.nodes.append(node)
        self.shapes[name] = node.shape
        return Value(name, perm or tuple(range(len(node.shape))))

    def set(self, name: str, value: Value) -> None:
        self.values[name] = value

    def set_const(self, name: str, array: np.ndarray) -> None:
        self.consts[name] = np.asarray(array)

    def _unique(self, base: str) -> str:
        base = re.sub(r"[^0-9A-Za-z_.:/-]", "_", base) or "node"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    # -- layouts -------------------------------------------------------------------------------
    def standard_layout(self, value: Value, node: onnx.NodeProto) -> Value:
        """``value`` in the graph's own axis order, as spatial ops need (NCHW).

        A transposed view of the network input, possibly after element-wise ops (a Keras
        Rescaling or Normalization before the Transpose), is made standard by permuting the input
        node (channels-last data) and those ops; other transposed values are refused.
        """
        if value.standard:
            return value
        chain = self.nodes
        is_input_chain = (
            value.flat_order is None
            and value.node == chain[-1].name
            and all(n.spec.elementwise and n.inputs == (prev.name,) for prev, n in zip(chain, chain[1:]))
        )
        if not is_input_chain:
            raise UnsupportedError(
                f"{describe(node)}: its input is a transposed tensor (axes {value.perm} of {value.node!r})",
                "eventsim folds Transpose only at the network input and before Flatten/Reshape → MatMul/Gemm",
            )
        perm = value.perm
        inp = chain[0]
        inp.attrs["perm"] = tuple(inp.attrs["perm"][p] for p in perm)
        for n in chain:
            for key, param in n.params.items():
                param = param.reshape((1,) * (len(perm) - param.ndim) + param.shape)
                n.params[key] = np.ascontiguousarray(param.transpose(perm))
            n.shape = tuple(n.shape[p] for p in perm)
            self.shapes[n.name] = n.shape
        inverse = tuple(int(i) for i in np.argsort(perm))
        names = {n.name for n in chain}
        for key, v in self.values.items():
            if v.node in names:
                self.values[key] = Value(v.node, tuple(inverse[p] for p in v.perm))
        return Value(value.node, tuple(range(len(perm))))

    def const_for(self, const: np.ndarray, value: Value, node: onnx.NodeProto) -> np.ndarray:
        """A constant that ONNX broadcasts against ``value`` (batch axis included), brought into the
        graph's layout of ``value`` as an array that broadcasts to its per-sample shape."""
        shape = self.shape(value)
        c = np.asarray(const, dtype=np.float32)
        rank = len(shape) + 1
        if c.ndim > rank:
            raise UnsupportedError(
                f"{describe(node)}: constant of shape {c.shape} has more axes than the data {shape}",
                "re-export the model; the constant must broadcast to the data",
            )
        c = c.reshape((1,) * (rank - c.ndim) + c.shape)
        if c.shape[0] != 1:
            raise UnsupportedError(
                f"{describe(node)}: constant of shape {c.shape} varies along the batch axis",
                "use a constant that is the same for every sample",
            )
        c = c[0]
        try:
            grown = np.broadcast_shapes(c.shape, shape) != shape
        except ValueError:
            grown = True
        if grown:
            raise ShapeError(
                f"{describe(node)}: constant of shape {c.shape} does not broadcast to the data {shape}",
                "re-export the model; the constant must broadcast to the data",
            )
        if value.flat_order is not None:
            if c.size == 1:
                return c.reshape(())
            internal = np.empty(shape, np.float32)
            internal[value.flat_order] = np.broadcast_to(c, shape)
            return internal
        return np.ascontiguousarray(c.transpose(np.argsort(value.perm)))

    def reshape(self, value: Value, target: tuple[int, ...], node: onnx.NodeProto, source: str) -> Value:
        """``value`` reshaped (row-major, ONNX view) to the per-sample shape ``target``."""
        size = int(np.prod(self.shape(value)))
        if int(np.prod(target)) != size:
            raise ShapeError(
                f"{describe(node)}: cannot reshape {self.shape(value)} to {target}",
                "re-export the model; the target shape must hold as many values as the data",
            )
        if value.standard:
            return self.emit("reshape", [value], {"shape": tuple(int(d) for d in target)}, source=source)
        if len(target) != 1:
            raise UnsupportedError(
                f"{describe(node)}: reshape of a transposed tensor to {target} is not supported",
                "only flattening a transposed tensor (before a dense layer) can be folded",
            )
        if value.flat_order is not None:
            return value
        internal = self.shapes[value.node]
        order = np.arange(size).reshape(internal).transpose(value.perm).ravel()
        flat = self.emit("reshape", [value], {"shape": (size,)}, source=None)
        return Value(flat.node, (0,), order)


def describe(node: onnx.NodeProto) -> str:
    """How error messages name an ONNX node."""
    return f"ONNX node {node.name or node.output[0]!r} ({node.op_type})"
