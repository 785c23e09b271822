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


def _neuron_node(nir: Any, net: SpikingNetwork, name: str, notes: dict[str, str], in_scale) -> Any:
    """The NIR node of neuron layer ``name`` (its kind's :meth:`NeuronKind.to_nir`) for an input that
    NIR holds over ``in_scale`` per channel (None: 1) — its threshold θ/in_scale fires in the same
    steps —, with eventsim's rule in its metadata; what NIR's node does otherwise goes into ``notes``."""
    layer = net.layers[name]
    theta = net.threshold_array(name).astype(np.float32)
    if in_scale is not None:
        theta = (theta / in_scale.reshape((-1,) + (1,) * (theta.ndim - 1))).astype(np.float32)
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
    ``pieces[i]`` times ``scales[i]`` (per channel or feature; None: 1) — the θ that NIR's spikes of
    1 lack, a pool's divisor —, which the next conv or dense takes into its weights; several pieces
    are a concatenation along per-sample ``axis`` (sizes ``sizes``), which NIR lacks and only
    consumers that split their weights can take."""

    pieces: list[tuple[str, ...]]
    scales: list[np.ndarray | None]
    axis: int = 0
    sizes: tuple[int, ...] = ()


def _same(scales: list[np.ndarray | None]) -> bool:
    """Whether all ``scales`` are equal (None only to None)."""
    first = scales[0]
    return all(s is None and first is None or s is not None and first is not None and np.array_equal(s, first)
               for s in scales)  # fmt: skip


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
        self.index: dict[str, int] = {}  # graph node → its index
        self.last_key: dict[str, str] = {}  # graph node → the NIR node of its output, when it has one

    def add(self, index: int, node) -> None:
        """Export graph node ``node`` (the ``index``-th)."""
        graph, spec = self.net.graph, node.spec
        inputs, in_shapes = [self.values[i] for i in node.inputs], [graph.node(i).shape for i in node.inputs]
        axis = spec.nir_concat_axis(node)
        if axis is not None:
            self.values[node.name] = _concatenation(node, inputs, in_shapes, axis)
            return
        joined, scale = None, None
        if any(len(value.pieces) > 1 for value in inputs):  # it reads a concatenation
            nir_require(len(inputs) == 1, node, "NIR cannot add a concatenation to other values")
            value = inputs[0]
            chains, joined = spec.to_nir_split(node, in_shapes[0], value.axis, value.sizes, self.nir, value.scales)
            sources, scaled = value.pieces, any(s is not None for s in value.scales)
        else:
            chain, source, scaled, scale = self._single(node, inputs, in_shapes)
            chains, sources = [chain], [source]
        keys = [self._chain(index, node, chain, source) for chain, source in zip(chains, sources)]
        self.index[node.name] = index
        if len(keys) == 1 and keys[0]:
            self.last_key[node.name] = keys[0][-1]
        if joined is not None:  # the pieces of a concatenation again (a flatten of one)
            self.values[node.name] = _Value([(k[-1],) for k in keys], list(joined[2]), joined[0], tuple(joined[1]))
        else:  # one value: the sum of the chains' outputs (of the sources themselves for an empty chain)
            tails = sum(((k[-1],) if k else source for k, source in zip(keys, sources)), ())
            self.values[node.name] = _Value([tails], [scale])
        if keys[0]:
            first = self.nodes[keys[0][0]]
            in_node = chains[0][0][0] == "" and type(first).__name__ in ("Conv2d", "Affine") and not scaled
            _carry_arrays(first, index, node, self.arrays, in_node)

    def _single(self, node, inputs: list[_Value], in_shapes: list) -> tuple[list, tuple, bool, np.ndarray | None]:
        """A node whose inputs are single pieces: its NIR chain, the keys that feed it, whether its
        weights took a scale, and the scale of its output."""
        spec, scales = node.spec, [value.scales[0] for value in inputs]
        if spec.role == "activation":  # its threshold takes the input's scale
            source, in_scale = inputs[0].pieces[0], scales[0]
            theta = np.asarray(self.net.layers[node.name].threshold, np.float32)  # scalar or per channel
            chain = [("", _neuron_node(self.nir, self.net, node.name, self.notes, in_scale))]
            scale = None if np.all(theta == 1) else np.broadcast_to(theta, (node.shape[0],)).astype(np.float32)
            return chain, source, False, scale
        if spec.nir_absorbs_scale:
            chain = spec.to_nir(node, in_shapes, self.nir, in_scale=scales[0])
            return chain, inputs[0].pieces[0], scales[0] is not None, None
        if inputs and spec.nir_passes_scale and not _same(scales):  # an add of a spike train and a conv's
            scales = self._common_scale(node, scales)
        if inputs and spec.nir_passes_scale and _same(scales):
            source = sum((value.pieces[0] for value in inputs), ())  # NIR sums the edges into a node
            scale = spec.nir_scale_after(node, scales[0], in_shapes[0])
        else:
            source = sum((self._unscaled(node, v, shape) for v, shape in zip(inputs, in_shapes)), ())
            scale = spec.nir_scale_after(node, None, in_shapes[0]) if inputs else None
        return spec.to_nir(node, in_shapes, self.nir), source, False, scale

    def _common_scale(self, node, scales: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """The inputs' scales after giving every unscaled input the first scale that some input has,
        by dividing the rows of the weight and bias of the conv or dense that makes it (when nothing
        else reads that conv or dense), so that an add of a spike train and a current needs no
        ``nir.Scale``; an input whose scale cannot change keeps it."""
        target = next(s for s in scales if s is not None)
        out = list(scales)
        for i, (name, scale) in enumerate(zip(node.inputs, scales)):
            producer = self.nodes.get(self.last_key.get(name, ""))
            alone = len(self.net.graph.consumers(name)) == 1
            if scale is None and alone and type(producer).__name__ in ("Conv2d", "Affine"):
                rows = target.reshape((-1,) + (1,) * (producer.weight.ndim - 1))
                producer.weight = (producer.weight / rows).astype(np.float32)
                producer.bias = (producer.bias / target).astype(np.float32)
                index = self.index[name]
                _carry_arrays(producer, index, self.net.graph.node(name), self.arrays, in_node=False)
                out[i] = target
        return out

    def _unscaled(self, node, value: _Value, shape: tuple[int, ...]) -> tuple[str, ...]:
        """The keys of ``value`` (one piece) in NIR at its eventsim scale: a ``nir.Scale`` node by
        its scale when it has one (an input a conv or dense cannot take it into its weights)."""
        nir_require(len(value.pieces) == 1, node, "NIR has no concatenation to read here")
        if value.scales[0] is None:
            return value.pieces[0]
        factor = value.scales[0].reshape((-1,) + (1,) * (len(shape) - 1))
        key = _key(f"{node.name}.scale", self.taken)
        self.nodes[key] = self.nir.Scale(scale=np.broadcast_to(factor, shape).astype(np.float32))
        self.nodes[key].metadata = {RECORD: json.dumps({"node": -1, "part": ".scale", "op": "scale"})}
        self.edges += [(source, key) for source in value.pieces[0]]
        return (key,)

    def _chain(self, index: int, node, chain: list[tuple[str, Any]], sources: tuple[str, ...]) -> list[str]:
        """Add the NIR nodes of ``chain``, the first fed by ``sources``; returns their keys (none for
        an empty chain: the node is the sum of its sources, which its consumers receive)."""
        keys = [_key(node.name + suffix, self.taken) for suffix, _ in chain]
        for key, (suffix, part) in zip(keys, chain):
            part.metadata = dict(part.metadata, **{RECORD: json.dumps({"node": index, "part": suffix, "op": node.op})})
            self.nodes[key] = part
        if keys:
            self.edges += [(source, keys[0]) for source in sources] + list(zip(keys, keys[1:]))
        return keys

    def graph(self) -> Any:
        """The ``nir.NIRGraph`` with an ``output`` node after the graph's output (type-checked)."""
        graph = self.net.graph
        value = self.values[graph.output]
        sources = self._unscaled(graph.node(graph.output), value, graph.output_shape)
        out = _key("output", self.taken)
        self.nodes[out] = self.nir.Output(output_type={"output": np.array(graph.output_shape)})
        self.edges += [(source, out) for source in sources]
        metadata = {RECORD: json.dumps(self.description)}
        return self.nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata, type_check=True)


def _concatenation(node, inputs: list[_Value], in_shapes: list[tuple[int, ...]], axis: int) -> _Value:
    """The value of a concatenation along ``axis``: its inputs' pieces, one after the other."""
    pieces: list[tuple[str, ...]] = []
    scales: list[np.ndarray | None] = []
    sizes: list[int] = []
    for value, shape in zip(inputs, in_shapes):
        if len(value.pieces) == 1:
            pieces.append(value.pieces[0])
            scales.append(value.scales[0])
            sizes.append(shape[axis])
        else:
            nir_require(value.axis == axis, node, "NIR cannot concatenate along two axes")
            pieces += value.pieces
            scales += value.scales
            sizes += value.sizes
    return _Value(pieces, scales, axis, tuple(sizes))


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
    if warn and export.notes:
        differences = [f"layer {name!r} {note}" for name, note in export.notes.items()]
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
        if f"graph/{index}/W" in arrays:  # carried in the metadata: the node's weights took a scale
            continue
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
        raise UnsupportedError(
            f"the NIR graph lacks eventsim's array {exc}; it was changed after export",
            "export the network again (eventsim export-nir), or drop its 'eventsim' metadata to read it as "
            "another tool's",
        ) from None


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
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, AssertionError) as exc:  # h5py's, nir's
        raise ModelFileError(
            f"{str(path)!r} is not a readable NIR file ({type(exc).__name__}: {exc})",
            "pass a file written by nir.write (HDF5), e.g. by eventsim export-nir; this one is damaged or not NIR",
        ) from None
    return from_nir(graph, dt, reset)
