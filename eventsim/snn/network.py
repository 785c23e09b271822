"""The spiking network: a graph plus the neuron parameters of every activation layer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..ir.graph import Graph
from ..ir.stages import pipeline_stages
from .kinds import phase_table
from .kinds.base import KindNetwork, NeuronLayer, per_neuron
from .network_file import load_network, network_arrays, save_network

#: How a network's output may be read (see SpikingNetwork.output_weights).
DECODINGS = ("sum", "temporal")


def _check_layer(name: str, layer: NeuronLayer, shape: tuple[int, ...]) -> None:
    problem = layer.spec.check_layer(name, layer)
    if problem:
        raise ShapeError(f"layer {name!r}: {problem}")
    if layer.threshold.ndim > 1:
        raise ShapeError(f"layer {name!r}: the threshold must be a scalar or one value per channel")
    theta = per_neuron(layer.threshold, shape)
    if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        raise ShapeError(f"layer {name!r}: thresholds must be finite and > 0")
    if not np.all(np.isfinite(per_neuron(layer.v0, shape))):
        raise ShapeError(f"layer {name!r}: initial potentials must be finite")
    bias = layer.temporal_bias
    if bias is not None and not (bias.ndim == 1 or (bias.ndim == 2 and bias.shape[1] == shape[0])):
        raise ShapeError(f"layer {name!r}: temporal bias must be (T,) or (T, {shape[0]}), got {bias.shape}")


@dataclass
class SpikingNetwork:
    """A :class:`Graph` whose activation nodes are layers of spiking neurons.

    Attributes
    ----------
    graph : Graph
    layers : dict of str to NeuronLayer
        One entry per activation node of the graph, keyed by node name.
    meta : dict
        How the network was made (conversion method, calibration T, source model and its SHA-256).
    decoding : {"sum", "temporal"}
        How the output is read: ``sum`` accumulates ``o(t) = Σ_{τ≤t} I_out(τ)``; ``temporal`` weights
        the spike-borne part of every step, ``o(t) = b + Σ_{τ≤t} w_τ (I_out(τ) − b)`` with the bias b
        (the static part) once — see :meth:`output_weights`.
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
            _check_layer(name, self.layers[name], self.graph.node(name).shape)
        if self.decoding not in DECODINGS:
            raise ShapeError(f"unknown decoding {self.decoding!r}; use one of {', '.join(DECODINGS)}")
        if self.decode_weights is not None:
            self.decode_weights = np.asarray(self.decode_weights, np.float32)
            if self.decode_weights.ndim != 1 or not np.all(np.isfinite(self.decode_weights)):
                raise ShapeError("decode_weights must be a finite 1-D array, one weight per step")

    # -- derived per-neuron arrays (graph layout) ---------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        """Neuron layers in graph order."""
        return [n.name for n in self.graph.activation_nodes()]

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

    def bias_rows(self, name: str, t0: int, t1: int) -> np.ndarray:
        """Temporal bias of every neuron of layer ``name`` in steps t0..t1, (steps, neurons) float32
        in graph layout, zero after its end; (0, 0) if it has none in these steps: what the compiled
        neuron loops add (per layer (T_b,) or per channel (T_b, C), expanded at once)."""
        bias = self.layers[name].temporal_bias
        if bias is None or t0 >= len(bias):
            return np.zeros((0, 0), np.float32)
        shape = self.graph.node(name).shape
        size = int(np.prod(shape))
        rows = np.zeros((t1 - t0, size), np.float32)
        part = np.asarray(bias[t0:t1], np.float32)
        # graph layout is channel-major: channel c holds a contiguous run of size / C neurons
        rows[: len(part)] = np.repeat(part.reshape(len(part), -1), size // (1 if part.ndim == 1 else shape[0]), axis=1)
        return rows

    @property
    def bias_steps(self) -> int:
        """The largest number of steps any layer has a temporal bias for (0 if none)."""
        return max(
            (len(layer.temporal_bias) for layer in self.layers.values() if layer.temporal_bias is not None), default=0
        )

    # -- what the kinds of its layers ask of a run --------------------------------------------
    @property
    def required_encoding(self) -> str | None:
        """The input coding the network's neurons need, if any (TTFS neurons read single spikes)."""
        return next((x.spec.coding for x in self.layers.values() if x.spec.coding), None)

    @property
    def encodings(self) -> tuple[str, ...] | None:
        """The input codings the network can read: the one its neurons need (TTFS), direct or rate
        for a converted network of rate-coded neurons (it stands for the ANN's values, which TTFS or
        latency coding would not give it), None (any) for a trained or imported one, which reads best
        what it was trained with (:attr:`default_encoding`)."""
        if self.required_encoding:
            return (self.required_encoding,)
        converted = "settings" in self.meta and "training" not in self.meta
        return ("direct", "rate") if converted else None

    @property
    def default_encoding(self) -> str:
        """The coding to simulate with when the caller names none: the one the neurons need, else the
        one the network was trained with, else direct."""
        trained = self.meta.get("training") or {}
        return self.required_encoding or trained.get("encoding") or "direct"

    @property
    def intended_steps(self) -> int | None:
        """The T the network was made for: the steps its kind needs for its full result (TTFS), else
        the T it was last trained or calibrated for; None when its file does not say."""
        if self.result_steps:
            return self.result_steps
        for T in ((self.meta.get("training") or {}).get("T"), self.meta.get("T")):
            if isinstance(T, int) and not isinstance(T, bool) and T >= 1:
                return T
        return None

    def first_output_step(self, T: int) -> int | None:
        """The first step (1-based) in which the output accumulates anything within ``T`` steps (1
        but for phase-scheduled kinds, whose output waits for the pipeline), or None if none does."""
        static, dynamic = self.output_weights(int(T))
        steps = np.flatnonzero((static != 0) | (dynamic != 0))
        return int(steps[0]) + 1 if steps.size else None

    @property
    def input_window(self) -> int | None:
        """Steps of the input coding's window, when the network's kinds set one (None: the run's T)."""
        windows = {x.spec.coding_window(x) for x in self.layers.values()} - {None}
        return windows.pop() if len(windows) == 1 else None

    @property
    def result_steps(self) -> int | None:
        """Steps after which the network shows its full result, when its kind has such a step (TTFS:
        one window per layer and one for the output); None for gradually converging kinds."""
        scheduled = self._scheduled()
        if scheduled is None:
            return None
        deepest = max(layer.stage for layer in self.layers.values())
        return scheduled.spec.result_steps(scheduled.period, deepest)

    def phases(self, T: int) -> np.ndarray:
        """What every neuron layer does in every step (layers in graph order, T), from its kind's
        phases (see :func:`eventsim.snn.kinds.phase_table`)."""
        return phase_table([self.layers[n] for n in self.layer_names], T)

    def _scheduled(self) -> NeuronLayer | None:
        """A layer of the network's phase-scheduled kind (the output follows its schedule), or None."""
        return next((x for x in self.layers.values() if x.spec.scheduled), None)

    def output_weights(self, T: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-step weights (static, dynamic), float32 (T,) each, with which the output accumulates:
        ``o(t) = Σ_{τ≤t} static_w(τ)·b + dynamic_w(τ)·(I_out(τ) − b)``, b the output's static part.

        The output integrates like a neuron of the network's scheduled kind one stage after the
        deepest layer feeding it:

        - ``sum``: both weights 1 in the steps the kind's ``output_gate`` lets through (bistable: its
          integration cycles, so that its bias enters only with the spikes of that layer), else 0;
        - ``temporal``: the static part once (step 1); the dynamic part weighted by ``decode_weights``,
          else by the kind's ``temporal_weights`` (TTFS: steps left in its window, which is exact),
          else w_τ = T − τ + 1; all favour early outputs.
        """
        scheduled = self._scheduled()
        stage = self.node_stages()[self.graph.output] + 1
        if self.decoding == "sum":
            gate = None if scheduled is None else scheduled.spec.output_gate(T, scheduled.period, stage)
            weights = np.ones(T, np.float32) if gate is None else np.asarray(gate, np.float32)
            return weights, weights.copy()
        once = np.zeros(T, np.float32)
        once[0] = 1
        weights = None if scheduled is None else scheduled.spec.temporal_weights(T, scheduled.period, stage)
        if self.decode_weights is not None:
            weights = np.zeros(T, np.float32)
            weights[: min(T, len(self.decode_weights))] = self.decode_weights[:T]
        elif weights is None:
            weights = np.arange(T, 0, -1).astype(np.float32)
        return once, np.asarray(weights, np.float32)

    def node_stages(self) -> dict[str, int]:
        """Pipeline stage of every node's value (:func:`eventsim.ir.stages.pipeline_stages` with this
        network's layer stages and cycle length)."""
        periods = {x.period for x in self.layers.values() if x.period}
        period = periods.pop() if len(periods) == 1 else 0
        return pipeline_stages(self.graph, period, {name: x.stage for name, x in self.layers.items() if x.stage})

    # -- identity and files --------------------------------------------------------------------
    def fingerprint(self) -> str:
        """SHA-256 of the network's content (graph, weights, neuron parameters, kinds), so reports of
        two runs show whether they simulated the same network. Metadata (the network's and the
        graph's: provenance, import notes) is not part of it."""
        description, arrays = network_arrays(self)
        graph = {key: value for key, value in description["graph"].items() if key not in ("meta", "notes")}
        digest = hashlib.sha256(json.dumps(graph, sort_keys=True).encode())
        for name, info in sorted(description["layers"].items()):
            digest.update(f"{name}:{info['kind']}:{info['period']}:{info['stage']}".encode())
            if (info["leak"], info["reset"]) != (1.0, "subtract"):  # so networks without a leak keep their print
                digest.update(f":{info['leak']!r}:{info['reset']}".encode())
            if "burst" in info:
                digest.update(f":burst {info['burst']!r}".encode())
        digest.update(f"decoding:{self.decoding}".encode())
        for key in sorted(arrays):
            value = np.ascontiguousarray(arrays[key])
            digest.update(f"{key}{value.dtype.str}{value.shape}".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    def save(self, path: str | Path) -> None:
        """Write the network to ``path`` (.npz, format v1; :mod:`eventsim.snn.network_file`), atomically."""
        save_network(self, path)

    @classmethod
    def from_kind(cls, built: KindNetwork) -> SpikingNetwork:
        """The network a kind's recipe made (see ``NeuronKind.build``)."""
        return cls(built.graph, built.layers, dict(built.meta), built.decoding)

    @classmethod
    def load(cls, path: str | Path) -> SpikingNetwork:
        """Read a network written by :meth:`save`; anything else is a :class:`ModelFileError`."""
        return load_network(path)
