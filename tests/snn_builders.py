"""Random small spiking networks for the engine tests, with every weight, input, threshold and
initial potential on a coarse binary grid so that all sums are exact in float32: then the event
engine must reproduce the reference engine bit for bit, whatever order it adds in."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from eventsim import Graph, Node
from eventsim.ir.stages import pipeline_stages
from eventsim.passes.synchronous import insert_synchronous_neurons
from eventsim.snn.network import NeuronLayer, SpikingNetwork


def grid(rng: np.random.Generator, shape, lo: float, hi: float, step: float) -> np.ndarray:
    """Random multiples of ``step`` in [lo, hi]."""
    k = rng.integers(int(round(lo / step)), int(round(hi / step)) + 1, size=shape)
    return (k * step).astype(np.float32)


class NetBuilder:
    """Builds a graph node by node, keeping track of the current value and its shape."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], normalise: bool) -> None:
        self.rng = rng
        scale = rng.choice([0.5, 1.0, 2.0], size=(shape[0], 1, 1)) if normalise else np.ones(())
        shift = grid(rng, (shape[0], 1, 1), -0.5, 0.5, 0.125) if normalise else np.zeros(())
        self.nodes = [
            Node(
                "x",
                "input",
                (),
                {"source_shape": shape, "perm": tuple(range(len(shape)))},
                {"scale": scale, "shift": shift},
            )
        ]
        self.shapes = {"x": shape}
        self.current = "x"

    @property
    def shape(self):
        return self.shapes[self.current]

    def add(self, op: str, inputs, attrs=None, params=None) -> str:
        name = f"n{len(self.nodes)}"
        node = Node(name, op, tuple(inputs), attrs or {}, params or {})
        self.nodes.append(node)
        Graph(self.nodes, name)  # validates and fills the shape
        self.shapes[name] = node.shape
        self.current = name
        return name

    def conv(self, src, c_out, k, stride, pad, dilation, groups) -> str:
        c_in = self.shapes[src][0]
        w = grid(self.rng, (c_out, c_in // groups, k, k), -0.5, 0.5, 0.125)
        b = grid(self.rng, (c_out,), -0.25, 0.5, 0.125)
        return self.add(
            "conv",
            [src],
            {
                "stride": (stride, stride),
                "pads": (pad, pad, pad, pad),
                "dilation": (dilation, dilation),
                "groups": groups,
            },
            {"W": w, "b": b},
        )

    def dense(self, src, n_out) -> str:
        n_in = self.shapes[src][0]
        return self.add(
            "dense",
            [src],
            {},
            {"W": grid(self.rng, (n_out, n_in), -0.5, 0.5, 0.125), "b": grid(self.rng, (n_out,), -0.25, 0.5, 0.125)},
        )

    def relu(self, src) -> str:
        return self.add("relu", [src])

    def pool(self, src, op, k, stride, pad, count_include_pad=False) -> str:
        attrs = {"kernel": k, "stride": stride, "pads": pad, "dilation": (1, 1), "ceil_mode": False}
        if op == "avgpool":
            attrs["count_include_pad"] = count_include_pad
        return self.add(op, [src], attrs)

    def flatten(self, src) -> str:
        return self.add("reshape", [src], {"shape": (int(np.prod(self.shapes[src])),)})

    def graph(self) -> Graph:
        return Graph(self.nodes, self.current)


def exact_network(graph: Graph, rng: np.random.Generator, v0: str) -> SpikingNetwork:
    """Grid thresholds (per layer or per channel) and initial potentials for every activation."""
    layers = {}
    for node in graph.activation_nodes():
        per_channel = rng.random() < 0.5
        theta = grid(rng, (node.shape[0],) if per_channel else (), 0.25, 2.0, 0.25)
        start = {"half": theta / 2, "zero": np.zeros_like(theta)}[v0]
        layers[node.name] = NeuronLayer(theta, start)
    return SpikingNetwork(graph, layers)


@st.composite
def random_networks(draw, joins: bool = True):
    """A random small CNN: conv stages (any stride/pad/dilation/groups; the padding zeros or, in a pad
    node, one value per channel), max and average pooling,
    nearest upsampling (of the input or after a stage), residual adds and channel concats (unless
    ``joins`` is False: then a chain), then dense layers; plus grid inputs in [0, 1]."""
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    c = draw(st.integers(1, 3))
    hw = draw(st.integers(5, 9))
    b = NetBuilder(rng, (c, hw, hw), normalise=draw(st.booleans()))
    upsample = draw(st.sampled_from(["none", "none", "input", "stage"]))
    if upsample == "input":  # on the direct-coded input: a static value
        b.add("upsample", ["x"], {"scale": (draw(st.integers(1, 2)), draw(st.integers(1, 2)))})
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["plain", "residual", "concat"] if joins else ["plain"]))
        src = b.current
        c_in = b.shape[0]
        if kind == "plain":
            groups = draw(st.sampled_from([1, c_in]))
            c_out = groups * draw(st.integers(1, 2)) if groups > 1 else draw(st.integers(1, 4))
            size = min(b.shape[1:])
            k = draw(st.integers(1, min(3, size)))
            pad = draw(st.integers(0, k - 1))
            dilation = draw(st.integers(1, 2))
            if dilation * (k - 1) + 1 > size + 2 * pad:
                dilation = 1
            if pad and draw(st.booleans()):  # a border of one value per channel (a folded BatchNorm's)
                values = grid(rng, (c_in,), -0.5, 0.5, 0.125)
                src, pad = b.add("pad", [src], {"pads": (pad,) * 4}, {"value": values}), 0
            b.conv(src, c_out, k, draw(st.integers(1, 2)), pad, dilation, groups)
        elif kind == "residual":
            first = b.relu(b.conv(src, c_in, 3, 1, 1, 1, 1))
            second = b.conv(first, c_in, 3, 1, 1, 1, 1)
            b.add(
                "add",
                [second, src]
                if b.nodes[[n.name for n in b.nodes].index(src)].op != "input"
                else [second, b.conv(src, c_in, 1, 1, 0, 1, 1)],
            )
        else:
            left = b.relu(b.conv(src, draw(st.integers(1, 3)), 1, 1, 0, 1, 1))
            right = b.relu(b.conv(src, draw(st.integers(1, 3)), 3, 1, 1, 1, 1))
            b.add("concat", [left, right], {"axis": 0})
        if b.nodes[-1].op != "relu":
            b.relu(b.current)
        pool = draw(st.sampled_from(["none", "max", "avg"]))
        if pool != "none" and min(b.shape[1:]) >= 2:
            k = draw(st.integers(1, 2))
            stride = draw(st.integers(1, 2))
            pad = draw(st.integers(0, k - 1))
            if pool == "max":
                b.pool(b.current, "maxpool", (k, k), (stride, stride), (pad, pad, pad, pad))
            else:  # kernels of 1 or 2: every divisor is a power of two, so the averages stay exact
                b.pool(b.current, "avgpool", (k, k), (stride, stride), (pad, pad, pad, pad), draw(st.booleans()))
        if upsample == "stage" and b.shape[1] <= 6:  # on spikes (or what pools made of them)
            b.add("upsample", [b.current], {"scale": (draw(st.integers(1, 3)), draw(st.integers(1, 2)))})
            upsample = "done"
    b.flatten(b.current)
    if draw(st.booleans()):
        b.relu(b.dense(b.current, draw(st.integers(2, 6))))
    b.dense(b.current, draw(st.integers(2, 4)))
    graph = b.graph()
    net = exact_network(graph, rng, draw(st.sampled_from(["half", "zero"])))
    x = grid(rng, (draw(st.integers(1, 3)),) + graph.input_shape, 0.0, 1.0, 0.125)
    return net, x


def single_layer(rng, n_in, n_out, theta, v0):
    """dense → IF layer (θ, v0 scalars) → dense with two outputs."""
    b = NetBuilder(rng, (n_in,), normalise=False)
    b.relu(b.dense("x", n_out))
    b.dense(b.current, 2)
    graph = b.graph()
    layers = {graph.activation_nodes()[0].name: NeuronLayer(np.float32(theta), np.float32(v0))}
    return SpikingNetwork(graph, layers)


def bistable(graph: Graph, rng, period: int, v0: str) -> SpikingNetwork:
    """Grid thresholds, bistable layers at their stages, synchronous delays on the joins."""
    synced, _ = insert_synchronous_neurons(graph, period)
    stages = pipeline_stages(synced, period)
    layers = {}
    for node in synced.activation_nodes():
        theta = grid(rng, (node.shape[0],) if rng.random() < 0.5 else (), 0.25, 2.0, 0.25)
        start = theta / 2 if v0 == "half" else np.zeros_like(theta)
        layers[node.name] = NeuronLayer(theta, start, "bistable", period=period, stage=stages[node.name])
    return SpikingNetwork(synced, layers)
