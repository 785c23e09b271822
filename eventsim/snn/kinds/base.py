"""What a neuron kind is: one class holding every meaning of the kind.

A kind has

- typed parameters and state: every layer carries a :class:`NeuronLayer`
  (threshold θ, initial potential v0, optional temporal bias, for kinds that work in phases a
  ``period`` and a pipeline ``stage``, and for leaky kinds a ``leak`` and a ``reset`` mode); the state
  of a neuron is its membrane potential v (float32);
- a pure step rule ``rule(v, current, theta, phase) -> (v_new, spike)`` written with array
  operations only (``spike``: a bool for kinds that emit at most one spike of θ per step, or a
  float32 whole number — how many θ the neuron emits, such as a burst of k — for kinds with
  :attr:`NeuronKind.graded` spikes, or a signed one); a kind with :attr:`NeuronKind.memory` keeps a
  second float32 per neuron besides v (the signed kind: its net spike count), which its rule reads and
  returns — ``rule(v, current, theta, phase, memory) -> (v_new, spike, memory_new)`` — and every
  engine carries (from 0; :meth:`NeuronKind.step` calls either shape); so that the same function
  runs on NumPy arrays (the reference engine, calibration) and, compiled by the event engine's own
  table, on scalars inside its kernels;
- its phase schedule ``schedule(steps, period, stage)``: what a layer at ``stage`` does in each step
  (:data:`IDLE`, :data:`INTEGRATE`, :data:`FIRE`, :data:`INTEGRATE_AND_FIRE`, or a kind's own codes);
  ``phases(steps, layer)`` gives it for one layer (by default its schedule; a kind whose rule needs
  more of the layer's parameters, such as LIF's leak and reset, encodes them in the phase); both
  engines pass the phase of a step to the rule, and neither runs a layer in an idle step (phase 0);
- its membrane dynamics, for the trainer: the leak β and the reset mode when its rule is the leaky
  one (IF: β = 1, reset by subtraction; LIF: its layer's), else none;
- its readout: the per-step weights that turn a spike train into the value it stands for, and the
  weights with which the network's output integrates when the kind sets them;
- the input coding it needs, if any;
- its conversion hooks: the options it reads, the option combinations it refuses, and the recipe
  that builds a network of its neurons from an ANN and its thresholds.

This module holds no engine code (and imports no Numba).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...errors import ShapeError, UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from ...ir.graph import Graph

#: What a neuron does in a step (the values of :func:`eventsim.snn.kinds.phase_table`).
IDLE, INTEGRATE, FIRE, INTEGRATE_AND_FIRE = 0, 1, 2, 3

#: How a leaky neuron's membrane is reset after a spike: θ subtracted, or set to zero.
RESETS = ("subtract", "zero")


def spike_counts(spikes: np.ndarray) -> np.ndarray:
    """How many spikes a rule's output stands for, per neuron (int64): 1 for a True of the one-spike
    kinds, |k| for a graded kind's k (a negative spike is a spike too)."""
    return np.abs(np.asarray(spikes)).astype(np.int64)


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
        Neuron kind (see :mod:`eventsim.snn.kinds`).
    threshold : numpy.ndarray
        θ, scalar or per channel (C,); spikes carry this amplitude.
    v0 : numpy.ndarray
        Initial membrane potential: scalar, per channel (C,) or per neuron.
    temporal_bias : numpy.ndarray or None
        β(t), a current added in step t: shape (T_b,) per layer or (T_b, C) per channel; steps after
        T_b get none.
    period : int
        Steps per cycle, for kinds with a phase schedule (bistable, TTFS); 0 otherwise.
    stage : int
        Pipeline stage (1 = fed by the input), for kinds with a phase schedule; 0 otherwise.
    leak : float
        β ∈ (0, 1], the factor by which a leaky (``lif``) neuron's membrane decays each step; every
        other kind needs 1 (no leak).
    reset : {"subtract", "zero"}
        What a spike does to a leaky neuron's membrane: θ subtracted, or set to 0; every other kind
        needs "subtract".
    burst : int
        B ≥ 1, the most spikes a ``burst`` neuron emits in one step; every other kind needs 1.
    """

    threshold: np.ndarray
    v0: np.ndarray
    kind: str = "if"
    temporal_bias: np.ndarray | None = None
    period: int = 0
    stage: int = 0
    leak: float = 1.0
    reset: str = "subtract"
    burst: int = 1

    def __post_init__(self) -> None:
        self.threshold = np.asarray(self.threshold, np.float32)
        self.v0 = np.asarray(self.v0, np.float32)
        if self.temporal_bias is not None:
            self.temporal_bias = np.asarray(self.temporal_bias, np.float32)
        # a real number (also a NumPy scalar or an int from JSON) becomes a float; anything else is
        # left for the kind's check_layer to refuse by name
        if isinstance(self.leak, (int, float, np.integer, np.floating)) and not isinstance(self.leak, bool):
            self.leak = float(self.leak)

    @property
    def spec(self) -> NeuronKind:
        """The layer's :class:`NeuronKind`."""
        from . import get_kind  # the registry imports this module

        return get_kind(self.kind)


@dataclass
class KindNetwork:
    """What a kind's conversion recipe makes of an ANN: the graph its neurons run on (the ANN's, or
    with synchronous delays), a :class:`NeuronLayer` per activation, the output decoding, and what the
    network's metadata records of the recipe."""

    graph: Graph
    layers: dict[str, NeuronLayer]
    decoding: str = "sum"
    meta: dict[str, Any] = field(default_factory=dict)


def layers_from_thresholds(
    graph: Graph, thresholds: dict[str, Any], v0: str = "half", kind: str = "if"
) -> dict[str, NeuronLayer]:
    """A layer of ``kind`` neurons per activation with the given thresholds (θ, scalar or per channel)
    and initial potentials ``v0`` ('half': θ/2, 'zero'): the first step of every recipe.

    Activations that cannot be spiking layers (a clip whose lower bound is not 0) are refused.
    """
    if v0 not in ("half", "zero"):
        raise ValueError(f"v0 must be 'half' or 'zero', got {v0!r}")
    for node in graph.activation_nodes():
        problem = node.spec.spiking_problem(node)
        if problem:
            raise UnsupportedError(
                f"layer {node.name!r} cannot be a spiking layer: {problem}", "use ReLU, ReLU6 or clip(0, λ)"
            )
    layers = {}
    for node in graph.activation_nodes():
        theta = np.asarray(thresholds[node.name], np.float32)
        layers[node.name] = NeuronLayer(theta, theta / 2 if v0 == "half" else np.zeros_like(theta), kind)
    return layers


class NeuronKind(ABC):
    """A neuron kind (module docstring). Subclasses set the class attributes and a ``rule``.

    Attributes
    ----------
    name : str
        Name in saved networks and reports.
    description : str
        One line for summaries and messages.
    scheduled : bool
        Whether the kind works in phases, so that its layers need a ``period`` and a ``stage``.
    coding : str or None
        Input coding the kind needs (None: any).
    options : dict
        Conversion options the kind reads, with their defaults.
    memory : bool
        Whether a neuron keeps a second number besides its membrane (starting at 0), which the rule
        reads and returns (module docstring).
    graded : bool
        Whether a neuron may emit several spikes in one step (its rule returns how many): downstream
        they travel as one event carrying k·θ, which a synapse turns into k·w — the counts price such
        an event as a multiply-accumulate, not as an accumulate (:mod:`eventsim.measure.counts`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    scheduled: ClassVar[bool] = False
    coding: ClassVar[str | None] = None
    options: ClassVar[dict[str, object]] = {}
    graded: ClassVar[bool] = False
    memory: ClassVar[bool] = False

    @staticmethod
    @abstractmethod
    def rule(v, current, theta, phase):
        """One step: ``(membrane, input current, threshold, phase) -> (membrane, spike)``."""

    def step(self, v, current, theta, phase, memory):
        """One step of the rule with the neuron's memory: ``(v_new, spike, memory_new)``; a kind
        without memory leaves it as it is."""
        if self.memory:
            return self.rule(v, current, theta, phase, memory)
        v, spike = self.rule(v, current, theta, phase)
        return v, spike, memory

    # -- schedule and readout ------------------------------------------------------------------
    def schedule(self, steps: np.ndarray, period: int, stage: int) -> np.ndarray:
        """Phase of a layer at ``stage`` in each 0-based step of ``steps`` (default: always
        integrate and fire)."""
        return np.full(np.shape(steps), INTEGRATE_AND_FIRE, np.int64)

    def phases(self, steps: np.ndarray, layer: NeuronLayer) -> np.ndarray:
        """Phase of ``layer`` in each 0-based step of ``steps``, as the rule receives it (default: the
        kind's :meth:`schedule` at the layer's period and stage)."""
        return self.schedule(steps, layer.period, layer.stage)

    def readout_weights(self, phases: np.ndarray) -> np.ndarray:
        """Per-step weights (T,) that turn a neuron's spike train into the value it stands for, in
        units of its spike amplitude θ: ``value = θ · Σ_t w_t s(t)``. Rate kinds: 1/F in each of the F
        steps in which the layer can fire."""
        firing = np.isin(phases, (FIRE, INTEGRATE_AND_FIRE))
        return firing / max(int(firing.sum()), 1)

    def output_gate(self, T: int, period: int, stage: int) -> np.ndarray | None:
        """With ``sum`` decoding: the steps (T,) in which an output fed by layers of this kind, at
        pipeline ``stage``, accumulates (None: every step)."""
        return None

    def temporal_weights(self, T: int, period: int, stage: int) -> np.ndarray | None:
        """With ``temporal`` decoding and no weights given: the weight (T,) of what spikes bring the
        output in each step (None: the network's default, favouring early steps)."""
        return None

    def result_steps(self, period: int, deepest_stage: int) -> int | None:
        """Steps after which a network of this kind, ``deepest_stage`` layers deep, shows its full
        result (None: it converges gradually, with no such step)."""
        return None

    def coding_window(self, layer: NeuronLayer) -> int | None:
        """Steps of the input coding's window this kind's layers read (None: the run's T)."""
        return None

    def membrane_dynamics(self, layer: NeuronLayer) -> tuple[float, str] | None:
        """(β, reset) when ``layer``'s neurons follow the leaky rule ``m = β·v + I; s = [m ≥ θ]`` with
        reset "subtract" (v ← m − s·θ), "zero" (v ← m − s·m) or "once" (silent after its spike) in
        every step — what the trainer differentiates; None for kinds whose rule is another (default)."""
        return None

    def check_layer(self, name: str, layer: NeuronLayer) -> str | None:
        """What is wrong with the parameters of layer ``name`` for this kind, or None (default: a
        scheduled kind needs a period and a stage; no kind but the leaky one takes a leak or a reset
        other than by subtraction, which its rule would silently ignore)."""
        if self.scheduled and (layer.period < 1 or layer.stage < 1):
            return f"a {self.name} neuron needs a period ≥ 1 and a stage ≥ 1"
        if layer.burst != 1:
            return f"a {self.name} neuron emits one spike per step at most (burst 1), got burst {layer.burst!r}"
        if layer.leak != 1 or layer.reset != "subtract":
            return (
                f"a {self.name} neuron has no leak and resets by subtraction (leak 1, reset 'subtract'), "
                f"got leak {layer.leak!r} and reset {layer.reset!r}; leaky neurons are kind 'lif'"
            )
        return None

    # -- interop -------------------------------------------------------------------------------
    def to_nir(self, name: str, layer: NeuronLayer, theta: np.ndarray, nir: Any) -> tuple[Any, str]:
        """The NIR node of layer ``name``'s neurons (``theta``: θ per neuron) and what that node does
        otherwise than this kind's rule ("" when nothing but the spike amplitude, which every kind
        shares). The default refuses: NIR has no such neuron."""
        raise UnsupportedError(
            f"layer {name!r} cannot be exported to NIR: its neurons are of kind {self.name!r}, which NIR cannot "
            "express (NIR has integrate-and-fire and leaky integrate-and-fire neurons)",
            "convert the network with an 'if' preset",
        )

    # -- conversion hooks ----------------------------------------------------------------------
    def check_settings(self, settings: dict) -> str | None:
        """What is wrong with a conversion's settings for this kind, or None."""
        for option in self.options:
            value = settings[option]
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                return f"the {self.name} option {option!r} must be a whole number of steps ≥ 1, got {value!r}"
        return None

    @abstractmethod
    def build(self, graph: Graph, thresholds: dict[str, np.ndarray], settings: dict) -> KindNetwork:
        """This kind's recipe: its neurons for ``graph`` with ``thresholds`` (θ per activation)."""
