"""The framework-independent graph (IR) that every stage of eventsim works on.

A :class:`Graph` is a topologically ordered list of :class:`Node` objects with one input node, one
output, static per-sample shapes (no batch axis; images are CHW) and numpy parameters. It knows
nothing of ONNX, torch or click. The ops a node may have, and what each means, live in
`eventsim.ir.ops`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ShapeError
from .ops import get_op

Shape = tuple[int, ...]


@dataclass
class Node:
    """One operation of the graph.

    Attributes
    ----------
    name : str
        Unique name; other nodes refer to it in their ``inputs``.
    op : str
        Canonical op name (see `eventsim.ir.ops`).
    inputs : tuple of str
        Names of the nodes whose outputs this node consumes, in order.
    attrs : dict
        JSON-friendly attributes (ints, floats, tuples of ints).
    params : dict of str to numpy.ndarray
        float32 parameters (weights, biases, scales).
    shape : tuple of int
        Per-sample output shape; filled in by shape inference.
    source : str or None
        Name of the tensor in the imported file whose value this node reproduces (for verification).
    """

    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    shape: Shape = ()
    source: str | None = None

    def __post_init__(self) -> None:
        self.inputs = tuple(self.inputs)
        self.params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.params.items()}

    @property
    def spec(self):
        """The op's :class:`~eventsim.ir.ops.base.OpSpec`."""
        return get_op(self.op)

    def copy(self, **changes: Any) -> Node:
        """A copy with ``changes`` applied (params and attrs dicts are copied, arrays shared)."""
        base = dict(attrs=dict(self.attrs), params=dict(self.params))
        base.update(changes)
        return dataclasses.replace(self, **base)


class Graph:
    """A topologically ordered, shape-checked network with one input and one output.

    Parameters
    ----------
    nodes : list of Node
        In topological order; the first node is the only ``input`` node.
    output : str
        Name of the node whose value is the network's output.
    notes : list of str, optional
        What the importer or the passes changed that a user should know (e.g. a dropped Softmax).
    meta : dict, optional
        Provenance (source file, producer, opset).
    """

    def __init__(
        self, nodes: list[Node], output: str, notes: list[str] | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        self.nodes = list(nodes)
        self.output = output
        self.notes = list(notes or [])
        self.meta = dict(meta or {})
        self._index: dict[str, Node] = {}
        self.validate()

    # -- structure ---------------------------------------------------------------------------
    def validate(self) -> None:
        """Check names, order and arities, and (re)compute every node's shape."""
        if not self.nodes or self.nodes[0].spec.role != "input":
            raise ShapeError("a graph must start with its input node")
        index: dict[str, Node] = {}
        for node in self.nodes:
            spec = node.spec
            if node.name in index:
                raise ShapeError(f"node name {node.name!r} is used twice")
            if spec.role == "input" and node is not self.nodes[0]:
                raise ShapeError(f"node {node.name!r}: a graph has exactly one input node")
            missing = [i for i in node.inputs if i not in index]
            if missing:
                raise ShapeError(f"node {node.name!r} ({node.op}) reads {missing}, which no earlier node produces")
            n = len(node.inputs)
            if n < spec.min_inputs or (spec.max_inputs is not None and n > spec.max_inputs):
                raise ShapeError(
                    f"node {node.name!r} ({node.op}) takes {spec.min_inputs}"
                    f"..{spec.max_inputs if spec.max_inputs is not None else 'n'} inputs, got {n}"
                )
            node.shape = tuple(int(d) for d in spec.infer_shape(node, [index[i].shape for i in node.inputs]))
            index[node.name] = node
        if self.output not in index:
            raise ShapeError(f"the graph output {self.output!r} is not a node of the graph")
        self._index = index

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        return self._index[name]

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __iter__(self):
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def input(self) -> Node:
        """The input node."""
        return self.nodes[0]

    @property
    def input_shape(self) -> Shape:
        """Per-sample shape of the data a user passes in (before any layout permutation)."""
        return tuple(self.input.attrs["source_shape"])

    @property
    def output_shape(self) -> Shape:
        """Per-sample shape of the output."""
        return self.node(self.output).shape

    def consumers(self, name: str) -> list[Node]:
        """Nodes that read the output of node ``name``."""
        return [n for n in self.nodes if name in n.inputs]

    def activation_nodes(self) -> list[Node]:
        """Nodes that become spiking neuron layers, in order."""
        return [n for n in self.nodes if n.spec.role == "activation"]

    # -- reporting ---------------------------------------------------------------------------
    def macs(self, node: Node) -> int:
        """ANN multiply-accumulates per sample of ``node``."""
        return node.spec.macs(node, [self.node(i).shape for i in node.inputs])

    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per node: name, op, inputs, attrs text, output shape, parameter count, MACs."""
        return [
            {
                "name": n.name,
                "op": n.op,
                "inputs": list(n.inputs),
                "attributes": n.spec.describe(n),
                "shape": list(n.shape),
                "params": int(sum(p.size for p in n.params.values()) if n.spec.role != "input" else 0),
                "macs": self.macs(n),
            }
            for n in self.nodes
        ]

    def summary(self) -> str:
        """A readable table of the graph: layer, op, output shape, parameters, MACs per sample."""
        rows = self.summary_rows()
        head = ("#", "name", "op", "output shape", "params", "MACs", "attributes / inputs")
        table = []
        for i, r in enumerate(rows):
            extra = r["attributes"]
            if len(r["inputs"]) > 1 or (r["inputs"] and i > 0 and r["inputs"][0] != rows[i - 1]["name"]):
                extra = (extra + " " if extra else "") + "<- " + ", ".join(r["inputs"])
            table.append(
                (
                    str(i),
                    r["name"],
                    r["op"],
                    "x".join(map(str, r["shape"])),
                    f"{r['params']:,}",
                    f"{r['macs']:,}",
                    extra,
                )
            )
        widths = [max(len(row[c]) for row in [head] + table) for c in range(len(head) - 1)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  " + head[-1]]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) + "  " + row[-1] for row in table]
        total_p = sum(r["params"] for r in rows)
        total_m = sum(r["macs"] for r in rows)
        lines.append(
            f"{len(rows)} nodes, {len(self.activation_nodes())} activation layers, "
            f"{total_p:,} parameters, {total_m:,} MACs per sample; "
            f"input {list(self.input_shape)}, output {list(self.output_shape)}"
        )
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> str:
        """The summary as JSON (nodes, totals, notes, provenance)."""
        rows = self.summary_rows()
        doc = {
            "input_shape": list(self.input_shape),
            "output": self.output,
            "output_shape": list(self.output_shape),
            "nodes": rows,
            "total_params": sum(r["params"] for r in rows),
            "total_macs": sum(r["macs"] for r in rows),
            "activation_layers": [n.name for n in self.activation_nodes()],
            "notes": self.notes,
            "meta": self.meta,
        }
        return json.dumps(doc, indent=2)
