"""NIR graphs written by other tools (sinabs, snnTorch, Norse, Lava, ...), read as spiking networks.

NIR describes neurons in continuous time; a simulator steps them with its own time step dt, which
the graph does not record, so the reader takes it (``dt``, 1 by default: sinabs' and most
converters' convention; snnTorch writes its LIF neurons for dt = 1e-4). With forward Euler:

* ``IF`` (dv/dt = r·I):                    v ← v + dt·r·I
* ``LIF`` (τ dv/dt = v_leak − v + r·I):     v ← (1 − dt/τ)·v + (dt·r/τ)·I   (v_leak must be 0)

and both spike when v reaches v_threshold, after which v becomes v_reset (which must be 0); a spike
is 1. Tools disagree on that reset: sinabs simulates NIR's IF by subtracting the threshold (as
eventsim's own IF does), so the reader takes ``reset="subtract"`` to run a graph as such a tool does.

eventsim's leaky neurons (kind ``lif``) compute m = β·v + I and spike at θ with amplitude θ, so each
NIR layer becomes a ``lif`` layer with β = 1 − dt/τ (1 for IF) and θ = 1 whose input current is
scaled by gain/v_threshold (the membrane measured in thresholds): then its spikes are 1, as NIR's.
The scaling is an ``affine`` node before the neurons, folded into the conv or dense that feeds them
when that is their only consumer.

NIR nodes: ``Input``, ``Output``, ``Affine``, ``Linear``, ``Conv2d`` (groups, padding as numbers,
'same' or 'valid'), ``AvgPool2d`` (padded windows divided by their full size, as PyTorch's
default), ``SumPool2d``, ``Scale``, ``Flatten``, ``IF`` and ``LIF``; several edges into one node
are summed (an ``add``). Other nodes (``CubaLIF``, ``LI``, ``I``, ``Delay``, ``Threshold``,
``Conv1d``, subgraphs) and recurrent edges are refused by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError, UnsupportedError
from ..ir.graph import Graph, Node
from ..passes.structure import absorb_into_previous, remove_noops
from ..snn.kinds.base import NeuronLayer
from ..snn.network import SpikingNetwork


def _refuse(key: str, problem: str) -> UnsupportedError:
    return UnsupportedError(
        f"NIR node {key!r} cannot be read: {problem}",
        "eventsim reads NIR graphs of Input, Affine, Linear, Conv2d, AvgPool2d, SumPool2d, Scale, Flatten, "
        "IF and LIF nodes (leak towards 0, reset to 0)",
    )


def _pair(value: Any) -> tuple[int, int]:
    """An int or a pair of ints as a pair."""
    array = np.atleast_1d(np.asarray(value)).astype(np.int64).ravel()
    return (int(array[0]), int(array[-1])) if array.size in (1, 2) else (-1, -1)


def _order(graph: Any) -> list[str]:
    """The node keys in an order where every node follows its sources; refuses cycles."""
    sources: dict[str, list[str]] = {key: [] for key in graph.nodes}
    for src, dst in graph.edges:
        if src not in sources or dst not in sources:
            raise _refuse(src if src not in sources else dst, "an edge names a node the graph does not have")
        sources[dst].append(src)
    order: list[str] = []
    state: dict[str, int] = {}
    for start in graph.nodes:
        stack = [(start, iter(sources[start]))]
        while stack:
            key, rest = stack[-1]
            state[key] = 1
            nxt = next(rest, None)
            if nxt is None:
                stack.pop()
                state[key] = 2
                order.append(key)
            elif state.get(nxt) == 1:
                raise _refuse(
                    nxt, "the graph is recurrent (an edge leads back to it); eventsim runs feed-forward graphs"
                )
            elif nxt not in state:
                stack.append((nxt, iter(sources[nxt])))
    return [key for key in dict.fromkeys(order)]


class _Reader:
    """Builds the eventsim graph node by node from the NIR nodes in order."""

    def __init__(self, graph: Any, dt: float, reset: str) -> None:
        self.nir_graph, self.dt, self.reset = graph, dt, reset
        self.nodes: list[Node] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.value: dict[str, str] = {}  # NIR key → eventsim node holding its output
        self.layers: dict[str, NeuronLayer] = {}
        self.output: str | None = None
        self.sources: dict[str, list[str]] = {key: [] for key in graph.nodes}
        for src, dst in graph.edges:
            self.sources[dst].append(src)

    def add(self, name: str, op: str, inputs: list[str], attrs: dict | None = None, params: dict | None = None) -> str:
        """Append an eventsim node (validated now, so that a bad NIR node fails where it is)."""
        node = Node(name, op, tuple(inputs), attrs or {}, params or {})
        if not all(np.all(np.isfinite(value)) for value in node.params.values()):
            raise _refuse(name.split("#")[0], "its parameters are not all finite numbers")
        self.nodes.append(node)
        try:
            Graph(self.nodes, name)
        except ShapeError as error:
            raise _refuse(name.split("#")[0], str(error)) from None
        self.shapes[name] = node.shape
        return name

    def source(self, key: str) -> str:
        """The eventsim node of what enters NIR node ``key``: its one source, or the sum of several."""
        found = [self.value[s] for s in self.sources[key]]
        if not found:
            raise _refuse(key, "no edge enters it")
        return found[0] if len(found) == 1 else self.add(f"{key}#sum", "add", found)

    def read(self, key: str) -> None:
        node = self.nir_graph.nodes[key]
        kind = type(node).__name__
        reader = READERS.get(kind)
        if reader is None:
            raise _refuse(key, f"eventsim has no {kind} (a {kind} node is not part of what it simulates)")
        self.value[key] = reader(self, key, node)


def _input(reader: _Reader, key: str, node: Any) -> str:
    if reader.nodes:
        raise _refuse(key, "the graph has more than one Input node")
    shape = tuple(int(d) for d in np.atleast_1d(np.asarray(node.input_type.get("input", ()))).ravel())
    if len(shape) not in (1, 3) or min(shape, default=0) < 1:
        shape = _input_shape_from_consumer(reader, key) or shape
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise _refuse(key, f"its shape {shape} is not (features,) or (channels, height, width)")
    attrs = {"source_shape": shape, "perm": tuple(range(len(shape)))}
    return reader.add(key, "input", [], attrs, {"scale": np.ones(()), "shift": np.zeros(())})


def _input_shape_from_consumer(reader: _Reader, key: str) -> tuple[int, ...] | None:
    """An input shape the graph left out, from the node it feeds (a conv's or an affine's)."""
    for src, dst in reader.nir_graph.edges:
        node = reader.nir_graph.nodes[dst] if src == key else None
        if type(node).__name__ == "Conv2d" and node.input_shape is not None:
            return (int(node.weight.shape[1]) * int(node.groups), *_pair(node.input_shape))
        if type(node).__name__ in ("Affine", "Linear"):
            return (int(node.weight.shape[1]),)
    return None


def _dense(reader: _Reader, key: str, node: Any) -> str:
    weight = np.asarray(node.weight, np.float32)
    bias = np.asarray(getattr(node, "bias", np.zeros(weight.shape[0])), np.float32)
    source = reader.source(key)
    if len(reader.shapes[source]) != 1:
        raise _refuse(key, f"it acts on a value of shape {reader.shapes[source]}; flatten it first (nir.Flatten)")
    bias = np.broadcast_to(bias, (weight.shape[0],)) if weight.ndim == 2 and bias.size in (1, weight.shape[0]) else bias
    return reader.add(key, "dense", [source], {}, {"W": weight, "b": bias})


def _conv(reader: _Reader, key: str, node: Any) -> str:
    weight = np.asarray(node.weight, np.float32)
    if weight.ndim != 4:
        raise _refuse(key, f"its weight has shape {weight.shape}, not (C_out, C_in/groups, kh, kw)")
    dilation, stride = _pair(node.dilation), _pair(node.stride)
    padding = node.padding
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0)
        else:  # 'same' with stride 1: the total padding d·(k − 1) split evenly
            totals = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
            if any(t % 2 for t in totals) or stride != (1, 1):
                raise _refuse(key, "padding 'same' here needs uneven padding, which NIR leaves undefined")
            pads = (totals[0] // 2, totals[1] // 2)
    else:
        pads = _pair(padding)
    bias = np.broadcast_to(np.asarray(node.bias, np.float32), (weight.shape[0],))
    attrs = {"stride": stride, "pads": pads + pads, "dilation": dilation, "groups": int(node.groups)}
    return reader.add(key, "conv", [reader.source(key)], attrs, {"W": weight, "b": bias})


def _pool(reader: _Reader, key: str, node: Any) -> str:
    kernel, stride, pads = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
    attrs = {"kernel": kernel, "stride": stride, "pads": pads + pads, "dilation": (1, 1), "ceil_mode": False}
    attrs["count_include_pad"] = True  # every window divided by its full size (PyTorch's default)
    pooled = reader.add(
        key if type(node).__name__ == "AvgPool2d" else f"{key}#mean", "avgpool", [reader.source(key)], attrs
    )
    if type(node).__name__ == "AvgPool2d":
        return pooled
    size = np.float32(kernel[0] * kernel[1])
    return reader.add(key, "affine", [pooled], {}, {"scale": size, "shift": np.zeros(())})


def _scale(reader: _Reader, key: str, node: Any) -> str:
    source = reader.source(key)
    scale = np.asarray(node.scale, np.float32)
    return reader.add(
        key, "affine", [source], {}, {"scale": _fit(key, scale, reader.shapes[source]), "shift": np.zeros(())}
    )


def _fit(key: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` as params of a node of ``shape``: a scalar, per channel (C, 1, 1) or per element."""
    values = np.asarray(values, np.float32)
    if values.size == 1:
        return values.reshape(())
    if values.shape == tuple(shape) or (values.ndim == 1 and len(shape) == 1 and values.size == shape[0]):
        first = values.reshape(shape[0], -1)[:, :1]
        same = len(shape) == 3 and np.all(values.reshape(shape[0], -1) == first)
        return first.reshape(shape[0], 1, 1) if same else values.reshape(shape)
    if len(shape) == 3 and values.size == shape[0]:
        return values.reshape(shape[0], 1, 1)
    raise _refuse(key, f"its parameters of shape {values.shape} do not fit its input of shape {shape}")


def _flatten(reader: _Reader, key: str, node: Any) -> str:
    source = reader.source(key)
    shape = reader.shapes[source]
    declared = node.input_type.get("input") if node.input_type else None
    start, end = int(node.start_dim), int(node.end_dim)
    if declared is not None and len(np.atleast_1d(declared)) == len(shape) + 1:  # a batch axis in front
        start, end = start - 1, end - 1 if end > 0 else end
    end = end if end >= 0 else len(shape) + end
    if not 0 <= start <= end < len(shape):
        raise _refuse(key, f"it flattens axes {node.start_dim}..{node.end_dim} of a value of shape {shape}")
    out = shape[:start] + (int(np.prod(shape[start : end + 1])),) + shape[end + 1 :]
    return reader.add(key, "reshape", [source], {"shape": out})


def _neurons(reader: _Reader, key: str, node: Any) -> str:
    """An IF or LIF layer: its current scaled by gain/θ into a ``lif`` layer with θ = 1 (module
    docstring)."""
    source = reader.source(key)
    shape, dt = reader.shapes[source], np.float64(reader.dt)
    theta = np.asarray(node.v_threshold, np.float64)
    reset = np.zeros(()) if node.v_reset is None else np.asarray(node.v_reset)
    if np.any(reset != 0):
        raise _refuse(key, "its neurons reset to a v_reset other than 0")
    if np.any(theta <= 0) or not np.all(np.isfinite(theta)):
        raise _refuse(key, "its thresholds are not all finite and > 0")
    if type(node).__name__ == "IF":
        beta, gain = np.ones(()), dt * np.asarray(node.r, np.float64)
    else:
        tau = np.asarray(node.tau, np.float64)
        if np.any(np.asarray(node.v_leak) != 0):
            raise _refuse(key, "its neurons leak towards a v_leak other than 0")
        beta, gain = 1 - dt / tau, dt * np.asarray(node.r, np.float64) / tau
    beta = np.unique(np.float32(beta))
    if beta.size != 1 or not 0 < beta[0] <= 1:
        raise _refuse(
            key,
            f"its leak per step 1 − dt/τ is {beta.tolist()} with dt = {reader.dt:g}; it must be one value in (0, 1] "
            "(pass the time step dt the exporting tool simulates with)",
        )
    ratio = np.asarray(gain / theta, np.float32)
    factor = np.float32(ratio.flat[0]) if np.all(ratio == ratio.flat[0]) else _fit(key, ratio, shape)
    current = source
    if not np.all(factor == 1):
        current = reader.add(f"{key}#current", "affine", [source], {}, {"scale": factor, "shift": np.zeros(())})
    name = reader.add(key, "relu", [current])
    reader.layers[name] = NeuronLayer(np.float32(1), np.float32(0), "lif", leak=float(beta[0]), reset=reader.reset)
    return name


def _output(reader: _Reader, key: str, node: Any) -> str:
    if reader.output is not None:
        raise _refuse(key, "the graph has more than one Output node")
    reader.output = reader.source(key)
    return reader.output


READERS: dict[str, Callable[[_Reader, str, Any], str]] = {
    "Input": _input,
    "Output": _output,
    "Affine": _dense,
    "Linear": _dense,
    "Conv2d": _conv,
    "AvgPool2d": _pool,
    "SumPool2d": _pool,
    "Scale": _scale,
    "Flatten": _flatten,
    "IF": _neurons,
    "LIF": _neurons,
}


def foreign_network(graph: Any, dt: float = 1.0, reset: str = "zero") -> SpikingNetwork:
    """The spiking network of a NIR graph another tool wrote (module docstring).

    Parameters
    ----------
    graph : nir.NIRGraph
        One Input, one Output, feed-forward.
    dt : float
        The time step the exporting tool simulates the graph with (sinabs: 1; snnTorch: 1e-4).
    reset : {"zero", "subtract"}
        What a spike does to the membrane: NIR's reset to v_reset = 0, or the threshold subtracted,
        as sinabs simulates NIR's IF.

    Returns
    -------
    SpikingNetwork
        ``lif`` layers (θ = 1, reset ``reset``), sum decoding; ``meta`` says it came from NIR, the dt
        and the reset.
    """
    if not np.isfinite(dt) or dt <= 0:
        raise UnsupportedError(f"the time step dt must be finite and > 0, got {dt!r}", "pass dt > 0")
    if reset not in ("zero", "subtract"):
        raise UnsupportedError(f"reset must be 'zero' or 'subtract', got {reset!r}")
    reader = _Reader(graph, float(dt), reset)
    order = _order(graph)
    inputs = [key for key in order if type(graph.nodes[key]).__name__ == "Input"]
    if len(inputs) != 1:
        raise UnsupportedError(f"a NIR graph needs exactly one Input node, this one has {len(inputs)}")
    for key in inputs + [key for key in order if key not in inputs]:
        reader.read(key)
    if reader.output is None:
        raise UnsupportedError("the NIR graph has no Output node", "add a nir.Output after the last layer")
    nodes = reader.nodes
    built = absorb_into_previous(remove_noops(Graph(nodes, reader.output)))
    meta = {"source": "nir", "dt": float(dt), "reset": reset, "preset": "nir"}
    return SpikingNetwork(built, reader.layers, meta=meta)
