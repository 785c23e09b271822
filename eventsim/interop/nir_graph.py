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
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError, UnsupportedError
from ..io import atomic_target
from ..snn.network import SpikingNetwork
from ..snn.network_file import network_arrays, network_from_parts

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
    """Refuse what NIR cannot carry: temporal decoding and neuron kinds other than ``if``."""
    if net.decoding != "sum":
        raise UnsupportedError(
            f"the network reads its output with {net.decoding!r} decoding, which NIR cannot express",
            "export a network with sum decoding",
        )
    for name in net.layer_names:
        kind = net.layers[name].kind
        if kind != "if":
            raise UnsupportedError(
                f"layer {name!r} cannot be exported to NIR: its neurons are of kind {kind!r}; "
                "NIR export supports integrate-and-fire ('if') layers only",
                "convert the network with an 'if' preset",
            )


def _if_node(nir: Any, net: SpikingNetwork, name: str) -> Any:
    """``nir.IF`` whose threshold is θ (r = 1), with what NIR cannot express in its metadata."""
    theta = net.threshold_array(name).astype(np.float32)
    ones = np.ones_like(theta)
    notes = (
        "eventsim IF: v <- v + I; spike when v >= theta; reset by subtracting theta (not to v_reset); "
        "a spike carries amplitude theta; v starts at v0; temporal_bias(t) is added in step t"
    )
    return nir.IF(r=ones, v_threshold=theta, v_reset=np.zeros_like(theta), metadata={"eventsim_neurons": notes})


def _key(name: str, taken: set[str]) -> str:
    """A NIR node key for ``name`` (HDF5 groups cannot contain '/'), unique in ``taken``."""
    key = name.replace("/", "|") or "node"
    while key in taken:
        key += "_"
    taken.add(key)
    return key


def to_nir(net: SpikingNetwork, warn: bool = True) -> Any:
    """The network as a ``nir.NIRGraph`` (type-checked by nir).

    Parameters
    ----------
    net : SpikingNetwork
        Built of input, conv, dense, average pooling, flatten, add and ``if`` neuron layers.
    warn : bool
        Warn (``warnings.warn``) that NIR's IF resets to v_reset where eventsim's subtracts θ.

    Returns
    -------
    nir.NIRGraph
        One NIR node per graph node (plus helpers: an input normalisation, a pool's divisor), keyed
        by the node's name, and an ``output`` node; refusals are :class:`UnsupportedError`\\ s naming
        the node and the reason.
    """
    nir = load_nir()
    _refuse(net)
    description, arrays = network_arrays(net)
    description["meta"] = net.meta
    graph = net.graph
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    last: dict[str, str] = {}  # graph node → NIR key of its output
    taken: set[str] = set()
    for index, node in enumerate(graph.nodes):
        in_shapes = [graph.node(i).shape for i in node.inputs]
        if node.spec.role == "activation":
            parts = [("", _if_node(nir, net, node.name))]
        else:
            parts = node.spec.to_nir(node, in_shapes, nir)
        keys = [_key(node.name + suffix, taken) for suffix, _ in parts]
        for key, (suffix, part) in zip(keys, parts):
            part.metadata = dict(part.metadata, **{RECORD: json.dumps({"node": index, "part": suffix, "op": node.op})})
            nodes[key] = part
        _carry_arrays(nodes[keys[0]], index, node, arrays)
        edges += [(last[i], keys[0]) for i in node.inputs] + list(zip(keys, keys[1:]))
        last[node.name] = keys[-1]
    out = _key("output", taken)
    nodes[out] = nir.Output(output_type={"output": np.array(graph.output_shape)})
    edges.append((last[graph.output], out))
    if warn and net.layer_names:
        warnings.warn(
            "eventsim's IF neurons reset by subtracting the threshold and their spikes carry it; NIR's IF "
            "resets to v_reset and spikes are 1: other NIR tools will simulate this graph differently "
            "(the node metadata records eventsim's rule, v0 and temporal biases)",
            stacklevel=2,
        )
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={RECORD: json.dumps(description)}, type_check=True)


def _carry_arrays(part: Any, index: int, node, arrays: dict[str, np.ndarray]) -> None:
    """Put the node's params into ``part``'s metadata unless the NIR node itself holds them (the
    weight and bias of ``nir.Conv2d`` and ``nir.Affine``), and a neuron layer's θ, v0 and temporal
    bias, which NIR cannot express."""
    carried = [] if type(part).__name__ in ("Conv2d", "Affine") else [f"graph/{index}/{key}" for key in node.params]
    carried += [f"layer/{node.name}/{key}" for key in ("threshold", "v0", "temporal_bias")]  # a neuron layer's
    for key in carried:
        if key in arrays:
            value = np.asarray(arrays[key])  # nir.write compresses datasets, which HDF5 refuses for scalars
            part.metadata[ARRAY + key.replace("/", "|") + (SCALAR if value.ndim == 0 else "")] = value.reshape(
                value.shape or (1,)
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def from_nir(graph: Any) -> SpikingNetwork:
    """The spiking network that :func:`to_nir` exported (the same fingerprint).

    Conv and dense weights and biases come from the NIR nodes (a grouped conv's from the diagonal
    blocks of its weight), everything else from the eventsim records in the metadata. A NIR graph
    without them (written by another tool) is an :class:`UnsupportedError` for now.
    """
    load_nir()
    if RECORD not in (graph.metadata or {}):
        raise UnsupportedError(
            "the NIR graph was not written by eventsim (no 'eventsim' record in its metadata); "
            "reading NIR graphs of other tools is not supported yet"
        )
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


def read_nir(path: str | Path) -> SpikingNetwork:
    """Read a NIR file that :func:`write_nir` wrote (``nir.read``) and rebuild the network."""
    nir = load_nir()
    if not Path(path).is_file():
        raise ModelFileError(f"NIR file {str(path)!r} does not exist", "check the path")
    try:
        graph = nir.read(str(path))
    except (OSError, ValueError, KeyError, AssertionError) as exc:
        raise ModelFileError(f"{str(path)!r} is not a readable NIR file ({type(exc).__name__}: {exc})") from None
    return from_nir(graph)
