"""Synthetic layers on which :func:`eventsim.simulation.layer.costs.measure` times the two methods."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir.graph import Node
from .linear import GraphLayout, LinearMethods

_WORK = 8 * 2**20  # as the engine cuts its dense products (engine.DENSE_PART)


@dataclass
class SyntheticLayer:
    """A node with its methods, an input at 10 % density and an empty one."""

    methods: LinearMethods
    x: np.ndarray
    empty: np.ndarray
    sops: int

    @property
    def rows(self) -> int:
        return len(self.x)

    @property
    def inputs(self) -> int:
        return self.methods.inputs

    @property
    def outputs(self) -> int:
        return self.methods.outputs

    @property
    def macs(self) -> int:
        return self.methods.macs

    def run_events(self) -> None:
        self.methods.events(self.x)

    def run_events_empty(self) -> None:
        self.methods.events(self.empty)

    def run_dense(self) -> None:
        self.methods.dense(self.x)


def _layer(node: Node, in_shape: tuple[int, ...], rows: int, fanout: np.ndarray) -> SyntheticLayer:
    rng = np.random.default_rng(0)
    layout = GraphLayout({node.name: node.shape, "x": in_shape}, {"x": True, node.name: True}, 1.0)
    methods = LinearMethods(node, in_shape, layout, _WORK)
    size = int(np.prod(in_shape))
    x = ((rng.random((rows, size)) < 0.1) * np.float32(0.5)).astype(np.float32)
    sops = int(((x != 0) * fanout.ravel()).sum())
    return SyntheticLayer(methods, x, np.zeros_like(x), max(sops, 1))


def conv_layer(width: int) -> SyntheticLayer:
    """A 3×3 convolution of 16×16×16 inputs into ``width`` channels, 64 rows."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((width, 16, 3, 3)).astype(np.float32)
    attrs = {"stride": (1, 1), "pads": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    node = Node("c", "conv", ("x",), attrs, {"W": w, "b": np.zeros(width, np.float32)})
    node.shape = node.spec.infer_shape(node, [(16, 16, 16)])
    return _layer(node, (16, 16, 16), 64, node.spec.fanout(node, (16, 16, 16)))


def dense_layer(width: int) -> SyntheticLayer:
    """A dense layer of 512 inputs into ``width`` outputs, 256 rows."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((width, 512)).astype(np.float32)
    node = Node("d", "dense", ("x",), {}, {"W": w, "b": np.zeros(width, np.float32)})
    node.shape = node.spec.infer_shape(node, [(512,)])
    return _layer(node, (512,), 256, node.spec.fanout(node, (512,)))
