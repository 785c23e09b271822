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
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelFileError, ShapeError
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


def _read_meta(path: Path, archive) -> dict:
    if "__meta__" not in archive.files:
        raise ModelFileError(
            f"{str(path)!r} is not an eventsim network (no metadata)",
            "pass a file written by 'eventsim convert' or SpikingNetwork.save",
        )
    meta = json.loads(archive["__meta__"].tobytes().decode())
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not an eventsim network (format {meta.get('format')!r})")
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


def load_network(path: str | Path) -> SpikingNetwork:
    """Read a network written by :func:`save_network`; anything else is a :class:`ModelFileError`."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"network file {str(path)!r} does not exist", "check the path")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = _read_meta(path, archive)
            arrays = {key: archive[key] for key in archive.files}
        return network_from_parts(meta, arrays)
    except ModelFileError:
        raise
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError, TypeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is damaged or not an eventsim network ({type(exc).__name__}: {exc})",
            "convert the model again",
        ) from None
    except ShapeError as exc:
        raise ModelFileError(
            f"{str(path)!r} holds an invalid network: {exc.problem}", "convert the model again"
        ) from None
