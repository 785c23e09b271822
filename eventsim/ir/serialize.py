"""Graphs as JSON-friendly descriptions plus named arrays (for the .npz network files; no pickle)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .graph import Graph, Node


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _attr_value(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_attr_value(v) for v in value)
    if value in ("inf", "-inf"):
        return float(value)
    return value


def graph_to_parts(graph: Graph, prefix: str = "graph/") -> tuple[dict, dict[str, np.ndarray]]:
    """Split a graph into a JSON-friendly description and named arrays."""
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    for node in graph.nodes:
        for key, value in node.params.items():
            arrays[f"{prefix}{len(nodes)}/{key}"] = value
        nodes.append(
            {
                "name": node.name,
                "op": node.op,
                "inputs": list(node.inputs),
                "attrs": {k: _json_value(v) for k, v in node.attrs.items()},
                "params": sorted(node.params),
                "source": node.source,
            }
        )
    doc = {
        "nodes": nodes,
        "output": graph.output,
        "notes": graph.notes,
        "meta": {k: _json_value(v) for k, v in graph.meta.items()},
    }
    return doc, arrays


def graph_from_parts(doc: dict, arrays, prefix: str = "graph/") -> Graph:
    """Rebuild a graph from :func:`graph_to_parts` output (raises KeyError/ValueError if incomplete)."""
    nodes = []
    for i, entry in enumerate(doc["nodes"]):
        params = {key: np.asarray(arrays[f"{prefix}{i}/{key}"]) for key in entry["params"]}
        attrs = {k: _attr_value(v) for k, v in entry["attrs"].items()}
        nodes.append(Node(entry["name"], entry["op"], tuple(entry["inputs"]), attrs, params, source=entry["source"]))
    return Graph(nodes, doc["output"], doc.get("notes", []), doc.get("meta", {}))
