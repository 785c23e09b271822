"""What both engines derive from a spiking network before simulating it.

Every value in the network splits into a *static* part, the same in every step (biases, the
direct-coded input and what linear layers make of them), and a *dynamic* part carried by spikes.
By linearity each synaptic node's output is ``static + linear(dynamic)``, so the static part is
computed once per sample and only spikes are propagated in each step. Max pooling is the one
non-linear synaptic op: on spikes it acts on cumulative counts (DESIGN.md), and its input must be
either all static or all dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..coding import rate_spikes, ttfs_spikes
from ..errors import UnsupportedError
from ..graph import Graph, Node
from ..network import SpikingNetwork

#: Ops whose per-step work on spikes is counted per event in the recording's synaptic events:
#: accumulates for conv, dense and avgpool; for a delay (synchronous neurons) one relayed event each.
SYNAPTIC_OPS = ("conv", "dense", "avgpool", "delay")


def linear_part(node: Node) -> Node:
    """The node without its constant term (bias, shift): what it does to the dynamic part."""
    if node.op in ("conv", "dense"):
        return node.copy(params={"W": node.params["W"], "b": np.zeros_like(node.params["b"])})
    if node.op in ("affine", "input"):
        return node.copy(params={"scale": node.params["scale"], "shift": np.zeros_like(node.params["shift"])})
    return node


@dataclass
class Plan:
    """Engine-independent description of one simulation setting.

    Attributes
    ----------
    net : SpikingNetwork
    graph : Graph
    encoding : str
    dynamic : dict of str to bool
        Whether a node's value changes from step to step (it depends on spikes).
    layers : list of str
        Neuron layers in graph order.
    synaptic : list of str
        Dynamic nodes whose work is counted in synaptic events.
    """

    net: SpikingNetwork
    graph: Graph
    encoding: str
    dynamic: dict[str, bool]
    layers: list[str]
    synaptic: list[str]
    cache: dict = field(default_factory=dict)  # what an engine derives once per run

    @classmethod
    def build(cls, net: SpikingNetwork, encoding: str) -> Plan:
        graph = net.graph
        dynamic: dict[str, bool] = {}
        for node in graph.nodes:
            if node.op == "input":
                dynamic[node.name] = encoding in ("rate", "ttfs")
            elif node.spec.role == "activation":
                dynamic[node.name] = True
            else:
                dynamic[node.name] = any(dynamic[i] for i in node.inputs)
        layers = [n.name for n in graph.activation_nodes()]
        synaptic = [n.name for n in graph.nodes if n.op in SYNAPTIC_OPS and dynamic[n.name]]
        return cls(net, graph, encoding, dynamic, layers, synaptic)

    @property
    def input_window(self) -> int | None:
        """Steps of the TTFS input window: the network's TTFS window (None: the run's T)."""
        periods = {x.period for x in self.net.layers.values() if x.kind == "ttfs"}
        return periods.pop() if len(periods) == 1 else None

    def input_amplitude(self, T: int) -> float:
        """What one input spike carries before the input normalisation."""
        return 1.0 / (self.input_window or T) if self.encoding == "ttfs" else 1.0

    def input_spikes(self, x: np.ndarray, T: int, seed: int, first_index: int) -> np.ndarray | None:
        """The spike-coded input of a batch, bool (N, T) + input shape; None for direct coding."""
        if self.encoding == "rate":
            return rate_spikes(x, T, seed, first_index)
        if self.encoding == "ttfs":
            return ttfs_spikes(x, T, self.input_window or T)
        return None

    def static(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Static part of every node's value for a batch (N,) + node shape, float32.

        Raises
        ------
        UnsupportedError
            If a max pool receives spikes and a non-zero static part at once.
        """
        shared = self._shared_static()
        values: dict[str, np.ndarray] = {}
        for node in self.graph.nodes:
            if node.name in shared:  # the same for every sample: computed once per run
                values[node.name] = np.broadcast_to(shared[node.name], (len(x),) + node.shape)
            elif node.op == "input":
                values[node.name] = node.spec.forward(node, [x])
            else:
                values[node.name] = node.spec.forward(node, [values[i] for i in node.inputs])
            values[node.name] = values[node.name].astype(np.float32, copy=False)
        return values

    def shared_static(self) -> dict[str, np.ndarray]:
        """Static parts that are the same for every sample, (1,) + shape per node."""
        return self._shared_static()

    def shared_static_names(self) -> set[str]:
        """Nodes whose static part is the same for every sample."""
        return set(self._shared_static())

    def _shared_static(self) -> dict[str, np.ndarray]:
        """Static parts that do not depend on the sample (biases, zero spikes, rate-coded input),
        computed on one sample of zeros, (1,) + shape each."""
        if "shared_static" in self.cache:
            return self.cache["shared_static"]
        shared: dict[str, np.ndarray] = {}
        for node in self.graph.nodes:
            if node.op == "input":
                if self.dynamic[node.name]:  # spike-coded input without a spike: the normalisation's shift
                    shared[node.name] = node.spec.forward(node, [np.zeros((1,) + self.graph.input_shape, np.float32)])
            elif node.spec.role == "activation":
                shared[node.name] = np.zeros((1,) + node.shape, np.float32)
            elif all(i in shared for i in node.inputs):
                shared[node.name] = node.spec.forward(node, [shared[i] for i in node.inputs]).astype(np.float32)
            if node.op == "maxpool" and self.dynamic[node.name]:
                source = node.inputs[0]
                if source not in shared or np.any(shared[source] != 0):
                    raise UnsupportedError(
                        f"max pool {node.name!r} receives spikes and a constant input (a bias or the direct-coded "
                        "input) at once, which has no event-driven form",
                        "put the max pool directly after an activation",
                    )
                shared[node.name] = np.zeros((1,) + node.shape, np.float32)
        self.cache["shared_static"] = shared
        return shared


def fanout_counts(graph: Graph, name: str) -> np.ndarray:
    """Synaptic events that one unit event at each input position of node ``name`` causes
    (in-bounds targets), shaped like the node's input."""
    node = graph.node(name)
    shape = graph.node(node.inputs[0]).shape
    if node.op == "dense":
        return np.full(shape, node.params["W"].shape[0], np.int64)
    if node.op == "delay":
        return np.ones(shape, np.int64)
    a = node.attrs
    kernel = node.params["W"].shape[2:] if node.op == "conv" else a["kernel"]
    per_target = node.params["W"].shape[0] // a["groups"] if node.op == "conv" else 1
    _, ho, wo = node.shape
    counts = np.zeros(shape[1:], np.int64)
    for i in range(kernel[0]):
        rows = np.arange(ho) * a["stride"][0] - a["pads"][0] + i * a["dilation"][0]
        rows = rows[(rows >= 0) & (rows < shape[1])]
        for j in range(kernel[1]):
            cols = np.arange(wo) * a["stride"][1] - a["pads"][1] + j * a["dilation"][1]
            cols = cols[(cols >= 0) & (cols < shape[2])]
            np.add.at(counts, (rows[:, None], cols[None, :]), 1)
    return np.broadcast_to(counts * per_target, shape).copy()
