"""The network file: one ``.npz`` (``allow_pickle=False``) holding the arrays and a JSON description
with a format name and version, so a network never needs unpickling and a damaged or foreign file is
a clear error.

Format ``eventsim.snn`` version 1: arrays ``graph/<i>/<param>`` (see :mod:`eventsim.ir.serialize`),
``layer/<name>/threshold``, ``layer/<name>/v0``, optional ``layer/<name>/temporal_bias`` and
``decode_weights``, and ``__meta__``: UTF-8 JSON with ``format``, ``version``, ``graph``, ``layers``
(per layer: ``kind``, ``temporal_bias`` (bool), ``period``, ``stage``, ``leak``, ``reset``), ``meta``
and ``decoding``. Files written before layers had ``leak`` and ``reset`` load with their defaults
(1, "subtract": no leak, reset by subtraction); a layer's ``burst`` is stored only when it is not 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data import ARCHIVE_DAMAGE, is_zip, read_npz
from ..errors import DataError, ModelFileError, ShapeError
from ..io import atomic_target
from ..ir.serialize import graph_from_parts, graph_to_parts
from .kinds.base import NeuronLayer

if TYPE_CHECKING:  # pragma: no cover
    from .network import SpikingNetwork

FORMAT = "eventsim.snn"
VERSION = 1


def network_arrays(net: SpikingNetwork) -> tuple[dict, dict[str, np.ndarray]]:
    """The network's description (JSON-friendly) and its named arrays, as the file stores them."""
    doc, arrays = graph_to_parts(net.graph)
    layers = {}
    for name, layer in net.layers.items():
        arrays[f"layer/{name}/threshold"] = layer.threshold
        arrays[f"layer/{name}/v0"] = layer.v0
        if layer.temporal_bias is not None:
            arrays[f"layer/{name}/temporal_bias"] = layer.temporal_bias
        layers[name] = {
            "kind": layer.kind,
            "temporal_bias": layer.temporal_bias is not None,
            "period": layer.period,
            "stage": layer.stage,
            "leak": float(layer.leak),
            "reset": layer.reset,
        }
        if layer.burst != 1:  # files of one-spike kinds stay as they were
            layers[name]["burst"] = layer.burst
    if net.decode_weights is not None:
        arrays["decode_weights"] = net.decode_weights
    meta = {"format": FORMAT, "version": VERSION, "graph": doc, "layers": layers, "decoding": net.decoding}
    return meta, arrays


def save_network(net: SpikingNetwork, path: str | Path) -> None:
    """Write ``net`` to ``path`` (.npz), atomically."""
    meta, arrays = network_arrays(net)
    meta["meta"] = net.meta
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_target(path, suffix=".npz") as tmp:  # numpy keeps a name ending in .npz as it is
        np.savez_compressed(tmp, **arrays)


#: What a damaged file's content can raise while it is read and rebuilt (the callers name the file).
DAMAGE = ARCHIVE_DAMAGE + (TypeError, AttributeError, ZeroDivisionError, OverflowError, DataError)

_WHAT_FIX = "pass a file written by 'eventsim convert' or SpikingNetwork.save"


def read_archive(path: Path, what: str, fix: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON description (``__meta__``) and the other arrays of an eventsim .npz (a network or a
    checkpoint), read without trusting it: a file that is not a zip archive (an ONNX model, a
    pickle) is named as such, and every array header is checked before anything is allocated."""
    if not is_zip(path):
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head[:1] == b"\x08":  # protobuf field 1 (ir_version): an ONNX model
            raise ModelFileError(
                f"{str(path)!r} is an ONNX model, not an eventsim {what} (.npz)",
                "convert the model first: eventsim convert MODEL.onnx --calib CALIB.npz -o net.npz, then pass net.npz",
            )
        kind = "empty" if not head else "not an .npz archive"
        raise ModelFileError(f"{str(path)!r} is {kind}, not an eventsim {what}", fix)
    names, arrays = read_npz(path)
    if "__meta__" not in arrays:
        raise ModelFileError(f"{str(path)!r} is not an eventsim {what} (no metadata; arrays {names[:6]})", fix)
    meta_array = arrays.pop("__meta__")
    if meta_array.dtype != np.uint8 or meta_array.ndim != 1:
        raise ModelFileError(f"{str(path)!r} is not an eventsim {what} (its metadata is not JSON text)", fix)
    meta = json.loads(meta_array.tobytes().decode())
    if not isinstance(meta, dict):
        raise ModelFileError(f"{str(path)!r} is not an eventsim {what} (its metadata is not a JSON object)", fix)
    return meta, arrays


def _read_meta(path: Path, meta: dict) -> dict:
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not an eventsim network (format {meta.get('format')!r})", _WHAT_FIX)
    if meta.get("version") != VERSION:
        raise ModelFileError(
            f"{str(path)!r} has network format version {meta.get('version')}; this eventsim reads version {VERSION}",
            "convert the model again",
        )
    return meta


def network_from_parts(description: dict, arrays: dict[str, np.ndarray]) -> SpikingNetwork:
    """The network that :func:`network_arrays` took apart (its description with the network's
    ``meta`` added, and its arrays), as the file and training checkpoints store it. Missing keys are
    KeyErrors and invalid parameters ShapeErrors: the callers name the file."""
    from .network import SpikingNetwork  # here: the network module imports this one

    check_parts(description, arrays)
    graph = graph_from_parts(description["graph"], arrays)
    layers = {
        name: NeuronLayer(
            arrays[f"layer/{name}/threshold"],
            arrays[f"layer/{name}/v0"],
            info["kind"],
            arrays[f"layer/{name}/temporal_bias"] if info["temporal_bias"] else None,
            int(info.get("period", 0)),
            int(info.get("stage", 0)),
            info.get("leak", 1.0),
            info.get("reset", "subtract"),
            info.get("burst", 1),
        )
        for name, info in description["layers"].items()
    }
    weights = arrays.get("decode_weights")
    return SpikingNetwork(graph, layers, description.get("meta", {}), description.get("decoding", "sum"), weights)


_POSITIVE_INTS = ("stride", "kernel", "dilation", "groups", "levels", "shape", "source_shape")
_FLAGS = ("ceil_mode", "count_include_pad")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _attr_problem(key: str, value) -> str | None:
    """What is wrong with a stored node attribute that eventsim would never have written."""
    values = value if isinstance(value, list) else [value]
    if key in _POSITIVE_INTS and not all(_is_int(v) and v >= 1 for v in values):
        return "must be whole numbers >= 1"
    if key == "pads" and not all(_is_int(v) and v >= 0 for v in values):
        return "must be whole numbers >= 0"
    if key == "perm" and sorted(values) != list(range(len(values))):
        return "must be a permutation of the axes"
    if key in _FLAGS and not isinstance(value, bool):
        return "must be true or false"
    if key in ("lo", "hi", "lam"):
        number = float(value) if value in ("inf", "-inf") else value
        if isinstance(number, bool) or not isinstance(number, (int, float)) or math.isnan(number):
            return "must be a number"
        if key == "lam" and not (0 < number < math.inf):
            return "must be a finite number > 0"
    return None


def check_parts(description: dict, arrays: dict[str, np.ndarray]) -> None:
    """Refuse a network description and arrays that eventsim cannot have written (a damaged or
    edited file): arrays that are not finite floats, node attributes out of range, layer fields of
    the wrong type or range. Raises ShapeError naming the entry; the callers name the file."""
    if not isinstance(description.get("graph"), dict) or not isinstance(description.get("layers"), dict):
        raise ShapeError("the description has no graph or no layers")
    for key, array in arrays.items():
        if key.startswith("opt/"):
            continue  # an optimiser's state (checkpoints) is checked by its reader
        if array.dtype.kind != "f":
            raise ShapeError(f"array {key!r} has dtype {array.dtype}; a network's arrays are floating point")
        if not np.all(np.isfinite(array)):
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            raise ShapeError(f"array {key!r} holds {bad} NaN or infinite values")
    nodes = description["graph"].get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise ShapeError("the graph's nodes are not a list of node descriptions")
    for node in nodes:
        attrs = node.get("attrs", {})
        if not isinstance(attrs, dict):
            raise ShapeError(f"node {node.get('name')!r}: its attributes are not a JSON object")
        for key, value in attrs.items():
            problem = _attr_problem(key, value)
            if problem:
                raise ShapeError(
                    f"node {node.get('name')!r} ({node.get('op')}): attribute {key!r} = {value!r} {problem}"
                )
    for name, info in description["layers"].items():
        if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
            raise ShapeError(f"layer {name!r}: its description has no neuron kind")
        for field in ("period", "stage"):
            value = info.get(field, 0)
            if not _is_int(value) or not 0 <= value <= max(len(nodes), 1) * 2**16:
                raise ShapeError(f"layer {name!r}: {field} {value!r} is not a whole number of steps in range")
        if info.get("stage", 0) > len(nodes):
            raise ShapeError(f"layer {name!r}: stage {info['stage']} is beyond the graph's {len(nodes)} nodes")
        burst = info.get("burst", 1)
        if not _is_int(burst) or burst < 1:
            raise ShapeError(f"layer {name!r}: burst {burst!r} must be a whole number >= 1")
        leak = info.get("leak", 1.0)
        if isinstance(leak, bool) or not isinstance(leak, (int, float)) or not 0 < leak <= 1:
            raise ShapeError(f"layer {name!r}: leak {leak!r} must be a number in (0, 1]")
        if not isinstance(info.get("reset", "subtract"), str) or not isinstance(info.get("temporal_bias"), bool):
            raise ShapeError(f"layer {name!r}: reset or temporal_bias of the wrong type")


def load_network(path: str | Path) -> SpikingNetwork:
    """Read a network written by :func:`save_network`; anything else is a :class:`ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"network file {str(path)!r} does not exist", "check the path")
    try:
        meta, arrays = read_archive(path, "network", _WHAT_FIX)
        meta = _read_meta(path, meta)
        return network_from_parts(meta, arrays)
    except ModelFileError:
        raise
    except DAMAGE as exc:
        text = exc.problem if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
        raise ModelFileError(
            f"{str(path)!r} is damaged or not an eventsim network ({text})", "convert the model again"
        ) from None
    except ShapeError as exc:
        raise ModelFileError(
            f"{str(path)!r} holds an invalid network: {exc.problem}", "convert the model again"
        ) from None
