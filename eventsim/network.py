"""The spiking network: a graph plus the neuron parameters of every activation layer.

Saved as one ``.npz`` file (``allow_pickle=False``) holding the arrays and a JSON description with a
format name and version, so a network never needs unpickling and a damaged or foreign file is a
clear error.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelFileError, ShapeError
from .graph import Graph
from .io import atomic_target
from .neurons import INTEGRATE, get_kind, phase_table
from .serialize import graph_from_parts, graph_to_parts

FORMAT = "eventsim.snn"
#: How a network's output may be read (see SpikingNetwork.output_weights).
DECODINGS = ("sum", "temporal")
VERSION = 1


def pipeline_stages(graph: Graph, period: int = 0, layer_stages: dict[str, int] | None = None) -> dict[str, int]:
    """Pipeline stage of every node's value: 0 for the input; for a neuron layer its stage in
    ``layer_stages`` or one more than its input's; a delay adds its cycles (``steps // period``, with a
    ``period``); any other node takes the largest stage of its inputs. BSNN's cycles and TTFS's windows
    run on these stages."""
    layer_stages = layer_stages or {}
    stages: dict[str, int] = {}
    for node in graph.nodes:
        before = max((stages[i] for i in node.inputs), default=0)
        if node.spec.role == "activation":
            stages[node.name] = layer_stages.get(node.name, before + 1)
        elif node.op == "delay" and period:
            stages[node.name] = before + node.attrs["steps"] // period
        else:
            stages[node.name] = before
    return stages


def per_neuron(param: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Expand a scalar, per-channel (C,) or per-neuron parameter to the full neuron ``shape``."""
    param = np.asarray(param, np.float32)
    if param.ndim == 0 or param.shape == tuple(shape):
        return np.broadcast_to(param, shape).copy()
    if param.shape == (shape[0],):
        return np.broadcast_to(param.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy()
    raise ShapeError(f"a parameter of shape {param.shape} fits neither a scalar, ({shape[0]},) per channel nor {shape}")


@dataclass
class NeuronLayer:
    """Neuron parameters of one activation layer.

    Attributes
    ----------
    kind : str
        Neuron kind (see :mod:`eventsim.neurons`).
    threshold : numpy.ndarray
        θ, scalar or per channel (C,); spikes carry this amplitude.
    v0 : numpy.ndarray
        Initial membrane potential: scalar, per channel (C,) or per neuron.
    temporal_bias : numpy.ndarray or None
        β(t), a current added in step t: shape (T_b,) per layer or (T_b, C) per channel; steps after
        T_b get none.
    period : int
        Steps per cycle, for kinds with a phase schedule (bistable); 0 otherwise.
    stage : int
        Pipeline stage (1 = fed by the input), for kinds with a phase schedule; 0 otherwise.
    """

    threshold: np.ndarray
    v0: np.ndarray
    kind: str = "if"
    temporal_bias: np.ndarray | None = None
    period: int = 0
    stage: int = 0

    def __post_init__(self) -> None:
        self.threshold = np.asarray(self.threshold, np.float32)
        self.v0 = np.asarray(self.v0, np.float32)
        if self.temporal_bias is not None:
            self.temporal_bias = np.asarray(self.temporal_bias, np.float32)


@dataclass
class SpikingNetwork:
    """A :class:`Graph` whose activation nodes are layers of spiking neurons.

    Attributes
    ----------
    graph : Graph
    layers : dict of str to NeuronLayer
        One entry per activation node of the graph, keyed by node name.
    meta : dict
        How the network was made (conversion method, calibration T, source model).
    decoding : {"sum", "temporal"}
        How the output is read (DESIGN.md): ``sum`` accumulates ``o(t) = Σ_{τ≤t} I_out(τ)``;
        ``temporal`` weights the spike-borne part of every step, ``o(t) = b + Σ_{τ≤t} w_τ (I_out(τ) − b)``
        with the bias b (the static part) once — see :meth:`output_weights`.
    decode_weights : numpy.ndarray or None
        With ``temporal``: w_τ for τ = 1..len (steps after get 0); None for the default weights.
    """

    graph: Graph
    layers: dict[str, NeuronLayer]
    meta: dict[str, Any] = field(default_factory=dict)
    decoding: str = "sum"
    decode_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check that every activation node has valid neuron parameters."""
        names = [n.name for n in self.graph.activation_nodes()]
        if sorted(names) != sorted(self.layers):
            raise ShapeError(
                f"neuron layers {sorted(self.layers)} do not match the graph's activations {sorted(names)}"
            )
        for name in names:
            layer, shape = self.layers[name], self.graph.node(name).shape
            kind = get_kind(layer.kind)
            if kind.schedule is not None and (layer.period < 1 or layer.stage < 1):
                raise ShapeError(f"layer {name!r}: a {kind.name} neuron needs a period ≥ 1 and a stage ≥ 1")
            if layer.threshold.ndim > 1:
                raise ShapeError(f"layer {name!r}: the threshold must be a scalar or one value per channel")
            theta = per_neuron(layer.threshold, shape)
            if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
                raise ShapeError(f"layer {name!r}: thresholds must be finite and > 0")
            v0 = per_neuron(layer.v0, shape)
            if not np.all(np.isfinite(v0)):
                raise ShapeError(f"layer {name!r}: initial potentials must be finite")
            bias = layer.temporal_bias
            if bias is not None and not (bias.ndim == 1 or (bias.ndim == 2 and bias.shape[1] == shape[0])):
                raise ShapeError(f"layer {name!r}: temporal bias must be (T,) or (T, {shape[0]}), got {bias.shape}")
        if self.decoding not in DECODINGS:
            raise ShapeError(f"unknown decoding {self.decoding!r}; use one of {', '.join(DECODINGS)}")
        if self.decode_weights is not None:
            self.decode_weights = np.asarray(self.decode_weights, np.float32)
            if self.decode_weights.ndim != 1 or not np.all(np.isfinite(self.decode_weights)):
                raise ShapeError("decode_weights must be a finite 1-D array, one weight per step")

    # -- derived per-neuron arrays (graph layout) ---------------------------------------------
    def threshold_array(self, name: str) -> np.ndarray:
        """θ of every neuron of layer ``name`` (its node's shape)."""
        return per_neuron(self.layers[name].threshold, self.graph.node(name).shape)

    def v0_array(self, name: str) -> np.ndarray:
        """Initial potential of every neuron of layer ``name``."""
        return per_neuron(self.layers[name].v0, self.graph.node(name).shape)

    def bias_at(self, name: str, t: int) -> np.ndarray | None:
        """Temporal bias of every neuron of layer ``name`` in step ``t`` (0-based), or None."""
        bias = self.layers[name].temporal_bias
        if bias is None or t >= len(bias):
            return None
        return per_neuron(bias[t], self.graph.node(name).shape)

    @property
    def required_encoding(self) -> str | None:
        """The input coding the network's neurons need, if any: TTFS neurons read single input spikes."""
        return "ttfs" if any(x.kind == "ttfs" for x in self.layers.values()) else None

    def phases(self, T: int) -> np.ndarray:
        """What every neuron layer does in every step (layers in graph order, T), from its kind's
        schedule (see :func:`eventsim.neurons.phase_table`)."""
        names = [n.name for n in self.graph.activation_nodes()]
        layers = [self.layers[n] for n in names]
        return phase_table([x.kind for x in layers], [x.period for x in layers], [x.stage for x in layers], T)

    def output_weights(self, T: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-step weights (static, dynamic), float32 (T,) each, with which the output accumulates:
        ``o(t) = Σ_{τ≤t} static_w(τ)·b + dynamic_w(τ)·(I_out(τ) − b)``, b the output's static part.

        - ``sum``: ones; for a network with bistable layers, both are 1 only in the steps in which the
          output integrates like a neuron one stage after the deepest layer feeding it (so its bias
          enters only with the spikes of that layer), 0 otherwise;
        - ``temporal``: the static part once (step 1); the dynamic part weighted by ``decode_weights``
          or by default: for a TTFS network the output integrates like a TTFS neuron one stage after
          the deepest layer (weight g = steps left in its window: exact), otherwise w_τ = T − τ + 1,
          both favouring early outputs.
        """
        ones = np.ones(T, np.float32)
        scheduled = {get_kind(x.kind).name: x for x in self.layers.values() if get_kind(x.kind).schedule is not None}
        stage = self.node_stages()[self.graph.output] + 1
        if self.decoding == "sum":
            if "bistable" not in scheduled:
                return ones, ones
            gate = get_kind("bistable").schedule(np.arange(T), scheduled["bistable"].period, stage) == INTEGRATE
            return gate.astype(np.float32), gate.astype(np.float32)
        once = np.zeros(T, np.float32)
        once[0] = 1
        if self.decode_weights is not None:
            weights = np.zeros(T, np.float32)
            weights[: min(T, len(self.decode_weights))] = self.decode_weights[:T]
        elif "ttfs" in scheduled:
            phase = get_kind("ttfs").schedule(np.arange(T), scheduled["ttfs"].period, stage)
            weights = np.maximum(phase, 0).astype(np.float32)
        else:
            weights = np.arange(T, 0, -1).astype(np.float32)
        return once, weights

    def node_stages(self) -> dict[str, int]:
        """Pipeline stage of every node's value (:func:`pipeline_stages` with this network's layer
        stages and cycle length)."""
        periods = {x.period for x in self.layers.values() if x.period}
        period = periods.pop() if len(periods) == 1 else 0
        return pipeline_stages(self.graph, period, {name: x.stage for name, x in self.layers.items() if x.stage})

    @property
    def bias_steps(self) -> int:
        """The largest number of steps any layer has a temporal bias for (0 if none)."""
        return max(
            (len(layer.temporal_bias) for layer in self.layers.values() if layer.temporal_bias is not None), default=0
        )

    def fingerprint(self) -> str:
        """SHA-256 of the network's content (graph, weights, neuron parameters, kinds), so reports of
        two runs show whether they simulated the same network. Metadata is not part of it."""
        doc, arrays = graph_to_parts(self.graph)
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode())
        for name, layer in sorted(self.layers.items()):
            digest.update(f"{name}:{layer.kind}:{layer.period}:{layer.stage}".encode())
            arrays[f"layer/{name}/threshold"] = layer.threshold
            arrays[f"layer/{name}/v0"] = layer.v0
            if layer.temporal_bias is not None:
                arrays[f"layer/{name}/temporal_bias"] = layer.temporal_bias
        digest.update(f"decoding:{self.decoding}".encode())
        if self.decode_weights is not None:
            arrays["decode_weights"] = self.decode_weights
        for key in sorted(arrays):
            value = np.ascontiguousarray(arrays[key])
            digest.update(f"{key}{value.dtype.str}{value.shape}".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the network to ``path`` (.npz), atomically."""
        doc, arrays = graph_to_parts(self.graph)
        layers = {}
        for name, layer in self.layers.items():
            arrays[f"layer/{name}/threshold"] = layer.threshold
            arrays[f"layer/{name}/v0"] = layer.v0
            if layer.temporal_bias is not None:
                arrays[f"layer/{name}/temporal_bias"] = layer.temporal_bias
            layers[name] = {
                "kind": layer.kind,
                "temporal_bias": layer.temporal_bias is not None,
                "period": layer.period,
                "stage": layer.stage,
            }
        if self.decode_weights is not None:
            arrays["decode_weights"] = self.decode_weights
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "graph": doc,
            "layers": layers,
            "meta": self.meta,
            "decoding": self.decoding,
        }
        arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with atomic_target(path, suffix=".npz") as tmp:  # numpy keeps a name ending in .npz as it is
            np.savez_compressed(tmp, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> SpikingNetwork:
        """Read a network written by :meth:`save`; anything else is a :class:`ModelFileError`."""
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"network file {str(path)!r} does not exist", "check the path")
        try:
            with np.load(path, allow_pickle=False) as archive:
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
                        f"{str(path)!r} has network format version {meta.get('version')}; "
                        f"this eventsim reads version {VERSION}",
                        "convert the model again",
                    )
                arrays = {key: archive[key] for key in archive.files}
            graph = graph_from_parts(meta["graph"], arrays)
            layers = {
                name: NeuronLayer(
                    arrays[f"layer/{name}/threshold"],
                    arrays[f"layer/{name}/v0"],
                    info["kind"],
                    arrays[f"layer/{name}/temporal_bias"] if info["temporal_bias"] else None,
                    int(info.get("period", 0)),
                    int(info.get("stage", 0)),
                )
                for name, info in meta["layers"].items()
            }
            weights = arrays.get("decode_weights")
            return cls(graph, layers, meta.get("meta", {}), meta.get("decoding", "sum"), weights)
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
