"""Spiking networks to and from NIR, the Neuromorphic Intermediate Representation (package ``nir``).

Export asks every node's op spec for its NIR form (:meth:`OpSpec.to_nir`); neuron layers of kind
``if`` become ``nir.IF`` (r = 1, v_threshold = θ, v_reset = 0). What NIR cannot express (reset by
subtraction, v0, temporal biases, the spike amplitude θ, firing at v ≥ θ) is written to the nodes'
``metadata``, and the network's structure (names, order, attributes) to the graph's, so that
:func:`from_nir` rebuilds the very network (same :meth:`SpikingNetwork.fingerprint`); conv and
dense weights are read back from the NIR nodes themselves. ``nir`` is imported only here, on use.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError, UnsupportedError
from ..io import atomic_target
from ..ir.ops.base import nir_require
from ..snn.network import SpikingNetwork
from ..snn.network_file import network_arrays, network_from_parts
from .nir_reader import foreign_network

#: Metadata key of the eventsim record in the graph and its nodes.
RECORD = "eventsim"
#: Prefix of metadata keys that hold one of the network's arrays ("/" → "|" for HDF5).
ARRAY = "array:"
#: Suffix of the key of an array that was a scalar (stored with shape (1,)).
SCALAR = "#scalar"


def load_nir() -> Any:
    """The ``nir`` module, or an :class:`UnsupportedError` naming the fix when it is missing."""
    try:
        import nir
    except ImportError:
        raise UnsupportedError(
            "NIR export and import need the 'nir' package, which is not installed", 'pip install "eventsim[nir]"'
        ) from None
    return nir


def _refuse(net: SpikingNetwork) -> None:
    """Refuse what NIR cannot carry at the network's level: temporal decoding."""
    if net.decoding != "sum":
        raise UnsupportedError(
            f"the network reads its output with {net.decoding!r} decoding, which NIR cannot express",
            "export a network with sum decoding",
        )


def _neuron_node(nir: Any, net: SpikingNetwork, name: str, notes: dict[str, str]) -> Any:
    """The NIR node of neuron layer ``name`` (its kind's :meth:`NeuronKind.to_nir`), with eventsim's
    rule in its metadata; what NIR's node does otherwise goes into ``notes``."""
    layer = net.layers[name]
    theta = net.threshold_array(name).astype(np.float32)
    node, note = layer.spec.to_nir(name, layer, theta, nir)
    if note:
        notes[name] = note
    node.metadata = dict(
        node.metadata,
        eventsim_neurons=f"eventsim {layer.kind}: {layer.spec.description}; a spike carries amplitude theta; "
        "v starts at v0; temporal_bias(t) is added in step t" + (f"; {note}" if note else ""),
    )
    return node


def _key(name: str, taken: set[str]) -> str:
    """A NIR node key for ``name`` (HDF5 groups cannot contain '/'), unique in ``taken``."""
    key = name.replace("/", "|") or "node"
    while key in taken:
        key += "_"
    taken.add(key)
    return key


@dataclass
class _Value:
    """A graph value in the NIR graph: piece i is the sum of the outputs of the NIR nodes
    ``pieces[i]``; several pieces are a concatenation along per-sample ``axis`` (sizes ``sizes``),
    which NIR lacks and only consumers that split their weights can take."""

    pieces: list[tuple[str, ...]]
    axis: int = 0
    sizes: tuple[int, ...] = ()


class _Export:
    """The NIR nodes and edges of one network, built node by node in graph order."""

    def __init__(self, nir: Any, net: SpikingNetwork) -> None:
        self.nir, self.net = nir, net
        self.description, self.arrays = network_arrays(net)
        self.description["meta"] = net.meta
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.values: dict[str, _Value] = {}
        self.taken: set[str] = set()
        self.notes: dict[str, str] = {}

    def add(self, index: int, node) -> None:
        """Export graph node ``node`` (the ``index``-th)."""
        graph, inputs = self.net.graph, [self.values[i] for i in node.inputs]
        in_shapes = [graph.node(i).shape for i in node.inputs]
        axis = node.spec.nir_concat_axis(node)
        if axis is not None:
            self.values[node.name] = _concatenation(node, inputs, in_shapes, axis)
            return
        if any(len(value.pieces) > 1 for value in inputs):  # it reads a concatenation
            nir_require(len(inputs) == 1, node, "NIR cannot add a concatenation to other values")
            chains, joined = node.spec.to_nir_split(node, in_shapes[0], inputs[0].axis, inputs[0].sizes, self.nir)
            sources = inputs[0].pieces
        else:
            if node.spec.role == "activation":
                chains = [[("", _neuron_node(self.nir, self.net, node.name, self.notes))]]
            else:
                chains = [node.spec.to_nir(node, in_shapes, self.nir)]
            joined, sources = None, [sum((value.pieces[0] for value in inputs), ())]  # NIR sums the edges
        keys = [self._chain(index, node, chain, source) for chain, source in zip(chains, sources)]
        tails = [chain_keys[-1] for chain_keys in keys]
        if joined is None:
            self.values[node.name] = _Value([tuple(tails)])
        else:
            self.values[node.name] = _Value([(tail,) for tail in tails], joined[0], tuple(joined[1]))
        first = self.nodes[keys[0][0]]
        in_node = chains[0][0][0] == "" and type(first).__name__ in ("Conv2d", "Affine")
        _carry_arrays(first, index, node, self.arrays, in_node)

    def _chain(self, index: int, node, chain: list[tuple[str, Any]], sources: tuple[str, ...]) -> list[str]:
        """Add the NIR nodes of ``chain``, the first fed by ``sources``; returns their keys."""
        keys = [_key(node.name + suffix, self.taken) for suffix, _ in chain]
        for key, (suffix, part) in zip(keys, chain):
            part.metadata = dict(part.metadata, **{RECORD: json.dumps({"node": index, "part": suffix, "op": node.op})})
            self.nodes[key] = part
        self.edges += [(source, keys[0]) for source in sources] + list(zip(keys, keys[1:]))
        return keys

    def graph(self) -> Any:
        """The ``nir.NIRGraph`` with an ``output`` node after the graph's output (type-checked)."""
        out = _key("output", self.taken)
        graph = self.net.graph
        self.nodes[out] = self.nir.Output(output_type={"output": np.array(graph.output_shape)})
        value = self.values[graph.output]
        nir_require(len(value.pieces) == 1, graph.node(graph.output), "NIR has no concatenation to output")
        self.edges += [(source, out) for source in value.pieces[0]]
        metadata = {RECORD: json.dumps(self.description)}
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata, type_check=True)


def _concatenation(node, inputs: list[_Value], in_shapes: list[tuple[int, ...]], axis: int) -> _Value:
    """The value of a concatenation along ``axis``: its inputs' pieces, one after the other."""
    pieces: list[tuple[str, ...]] = []
    sizes: list[int] = []
    for value, shape in zip(inputs, in_shapes):
        if len(value.pieces) == 1:
            pieces.append(value.pieces[0])
            sizes.append(shape[axis])
        else:
            nir_require(value.axis == axis, node, "NIR cannot concatenate along two axes")
            pieces += value.pieces
            sizes += value.sizes
    return _Value(pieces, axis, tuple(sizes))


def to_nir(net: SpikingNetwork, warn: bool = True) -> Any:
    """The network as a ``nir.NIRGraph`` (type-checked by nir).

    Parameters
    ----------
    net : SpikingNetwork
        Built of input, conv, dense, average pooling, flatten, add and concat nodes (a concatenation
        becomes split weights of its conv, dense or flatten consumers, which NIR sums), and neuron
        layers of kinds NIR can express (``if``, ``lif``).
    warn : bool
        Warn (``warnings.warn``) of what NIR's neurons do otherwise than eventsim's: the reset (NIR's
        reset to v_reset where eventsim's IF subtracts θ) and the spike amplitude θ.

    Returns
    -------
    nir.NIRGraph
        NIR nodes per graph node (one, or helpers with suffixed keys: an input normalisation, a
        pool's divisor, the pieces of split weights), keyed by the node's name, and an ``output``
        node; refusals are :class:`UnsupportedError`\\ s naming the node and the reason.
    """
    nir = load_nir()
    _refuse(net)
    export = _Export(nir, net)
    for index, node in enumerate(net.graph.nodes):
        export.add(index, node)
    graph = export.graph()
    thetas = [net.threshold_array(name) for name in net.layer_names]
    if warn and (export.notes or any(np.any(theta != 1) for theta in thetas)):
        differences = [f"layer {name!r} {note}" for name, note in export.notes.items()]
        differences += ["eventsim's spikes carry the threshold θ where NIR's are 1"]
        warnings.warn(
            "other NIR tools will simulate this graph differently: "
            + "; ".join(differences)
            + " (the node metadata records eventsim's rule, v0 and temporal biases)",
            stacklevel=2,
        )
    return graph


def _carry_arrays(part: Any, index: int, node, arrays: dict[str, np.ndarray], in_node: bool) -> None:
    """Put the node's params into ``part``'s metadata unless the NIR node itself holds them
    (``in_node``: the weight and bias of an unsplit ``nir.Conv2d`` or ``nir.Affine``), and a neuron
    layer's θ, v0 and temporal bias, which NIR cannot express."""
    carried = [] if in_node else [f"graph/{index}/{key}" for key in node.params]
    carried += [f"layer/{node.name}/{key}" for key in ("threshold", "v0", "temporal_bias")]  # a neuron layer's
    for key in carried:
        if key in arrays:
            value = np.asarray(arrays[key])  # nir.write compresses datasets, which HDF5 refuses for scalars
            part.metadata[ARRAY + key.replace("/", "|") + (SCALAR if value.ndim == 0 else "")] = value.reshape(
                value.shape or (1,)
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def from_nir(graph: Any, dt: float = 1.0, reset: str = "zero") -> SpikingNetwork:
    """The spiking network of a NIR graph.

    A graph :func:`to_nir` exported is rebuilt exactly (the same fingerprint): conv and dense
    weights and biases come from the NIR nodes (a grouped conv's from the diagonal blocks of its
    weight), everything else from the eventsim records in the metadata. A graph another tool wrote
    is read by NIR's definitions (:func:`eventsim.interop.nir_reader.foreign_network`), its neurons
    stepped with time step ``dt`` and reset to 0 (``reset="zero"``) or by subtraction.
    """
    load_nir()
    if RECORD not in (graph.metadata or {}):
        return foreign_network(graph, dt, reset)
    description = json.loads(_text(graph.metadata[RECORD]))
    arrays: dict[str, np.ndarray] = {}
    for key, part in graph.nodes.items():
        metadata = part.metadata or {}
        for name, value in metadata.items():
            if name.startswith(ARRAY):
                key = name[len(ARRAY) :].replace("|", "/")
                if key.endswith(SCALAR):
                    key, value = key[: -len(SCALAR)], np.asarray(value).reshape(())
                arrays[key] = np.asarray(value)
        record = metadata.get(RECORD)
        if record is None or json.loads(_text(record))["part"]:
            continue
        index = json.loads(_text(record))["node"]
        entry = description["graph"]["nodes"][index]
        if type(part).__name__ == "Conv2d":
            groups = int(entry["attrs"]["groups"])
            arrays[f"graph/{index}/W"] = _diagonal_blocks(np.asarray(part.weight, np.float32), groups)
            arrays[f"graph/{index}/b"] = np.asarray(part.bias, np.float32)
        elif type(part).__name__ == "Affine":
            arrays[f"graph/{index}/W"] = np.asarray(part.weight, np.float32)
            arrays[f"graph/{index}/b"] = np.asarray(part.bias, np.float32)
    try:
        return network_from_parts(description, arrays)
    except KeyError as exc:
        raise UnsupportedError(f"the NIR graph lacks eventsim's array {exc}; it was changed after export") from None


def _diagonal_blocks(weight: np.ndarray, groups: int) -> np.ndarray:
    """The (C_out, C_in/groups, kh, kw) weight of a grouped conv from its block-diagonal dense form."""
    c_out, c_in = weight.shape[:2]
    o_g, c_g = c_out // groups, c_in // groups
    blocks = [weight[g * o_g : (g + 1) * o_g, g * c_g : (g + 1) * c_g] for g in range(groups)]
    return np.ascontiguousarray(np.concatenate(blocks, axis=0))


def write_nir(net: SpikingNetwork, path: str | Path, warn: bool = True) -> Any:
    """Export ``net`` (:func:`to_nir`) and write it to ``path`` with ``nir.write`` (atomically: a
    failure leaves no partial file); returns the graph."""
    graph = to_nir(net, warn=warn)
    with atomic_target(path, suffix=".nir") as tmp:  # h5py truncates the empty temporary file
        load_nir().write(str(tmp), graph)
    return graph


def read_nir(path: str | Path, dt: float = 1.0, reset: str = "zero") -> SpikingNetwork:
    """Read a NIR file (``nir.read``) as a spiking network (:func:`from_nir`; ``dt`` and ``reset``:
    how to run a graph another tool wrote)."""
    nir = load_nir()
    if not Path(path).is_file():
        raise ModelFileError(f"NIR file {str(path)!r} does not exist", "check the path")
    try:
        graph = nir.read(str(path))
    except (OSError, ValueError, KeyError, AssertionError) as exc:
        raise ModelFileError(f"{str(path)!r} is not a readable NIR file ({type(exc).__name__}: {exc})") from None
    return from_nir(graph, dt, reset)
