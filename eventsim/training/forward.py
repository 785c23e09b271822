"""The trainer's forward: a batch through a spiking network layer by layer, all T steps of a layer at
once (the layer-major engine's order), keeping what the backward needs.

Values follow the engines to the bit: the same static/dynamic split, the same op semantics, the
same neuron rule and the same order of additions, so a trained network simulates exactly as it
trained. What is kept per layer depends on the backward:

- ``dense`` (the NumPy reference): u = m − θ of every entry, (T, N, n);
- ``sparse``: only the *active* entries (the estimator's dS/du ≠ 0), per sample in step order —
  memory that grows with the active set — plus a one-byte mask of them (which positions of the
  layer below need a gradient at all).

Spike trains between layers are kept as (T, N, size) float32 arrays: the weight gradients read
them (only their non-zero entries, in the sparse backward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UnsupportedError
from ..simulation.plan import Batch, SimulationPlan
from ..snn.kinds.base import per_neuron
from ..snn.network import SpikingNetwork
from .estimators import Estimator
from .membrane import membrane_dynamics

#: Input density (non-zero fraction) under which a weighted op's forward scatters events rather than
#: running its dense product (the cost model of the layer engine, in one number).
EVENTS_BELOW = 0.1


@dataclass
class LayerTrace:
    """What the backward needs of one neuron layer.

    Attributes
    ----------
    index : int
        Position among the network's layers (it names the layer's random draws).
    theta, v0 : numpy.ndarray
        Per neuron (n,), float32.
    leak : numpy.float32
        β.
    reset : int
        The reset's code (:data:`eventsim.training.membrane.RESETS`).
    u : numpy.ndarray or None
        Dense trace: u of every entry (T, N, n).
    active, pos, est, us, counts : numpy.ndarray or None
        Sparse trace (:func:`eventsim.training.kernels.neurons.leaky_forward`).
    """

    index: int
    theta: np.ndarray
    v0: np.ndarray
    leak: np.float32
    reset: int
    u: np.ndarray | None = None
    active: np.ndarray | None = None
    pos: np.ndarray | None = None
    est: np.ndarray | None = None
    us: np.ndarray | None = None
    counts: np.ndarray | None = None

    @property
    def active_entries(self) -> int:
        """Entries with a gradient (sparse trace)."""
        return int(self.counts.sum()) if self.counts is not None else -1


@dataclass
class Tape:
    """One batch's forward (module docstring).

    Attributes
    ----------
    plan : SimulationPlan
    static : dict of str to numpy.ndarray
        Static part of every node, (N,) + shape.
    values : dict of str to numpy.ndarray
        Dynamic part of every node that has one, (T, N) + shape.
    layers : dict of str to LayerTrace
    output : numpy.ndarray
        o(t) for every step, (T, N) + output shape.
    noise_seed : int
        Seed of the estimator's draws in this batch.
    sparse : bool
        Which trace the layers keep.
    """

    plan: SimulationPlan
    static: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    layers: dict[str, LayerTrace]
    output: np.ndarray
    noise_seed: int
    sparse: bool
    capacity: dict[str, int] = field(default_factory=dict)
    #: Non-zero fraction of the dynamic input of every dense and conv node (the backward reuses it).
    density: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Samples in the batch."""
        return len(next(iter(self.static.values())))


def forward(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    estimator: Estimator,
    *,
    encoding: str = "direct",
    sparse: bool = True,
    noise_seed: int = 0,
    coding_seed: int = 0,
    first_index: int = 0,
    capacity: dict[str, int] | None = None,
) -> Tape:
    """Run ``x`` (N,) + input shape through ``net`` for ``T`` steps, keeping the trace.

    Parameters
    ----------
    net : SpikingNetwork
        IF and LIF layers (kinds whose membrane follows the leaky rule).
    x : numpy.ndarray
        The batch, float32.
    T : int
    estimator : Estimator
        Decides which entries are active (and, with ``sigmoid``, makes the forward smooth).
    encoding : str
        Input coding.
    sparse : bool
        Keep the sparse trace (else the dense one).
    noise_seed : int
        Seed of the estimator's random draws (LocalZO).
    coding_seed, first_index : int
        Seed of a rate coding and the index of ``x[0]`` in the data set.
    capacity : dict, optional
        Active entries per sample to make room for, per layer (grown as needed, updated in place).
    """
    if sparse and estimator.smooth_forward:
        raise UnsupportedError(
            "the smooth forward of the 'sigmoid' estimator has no sparse backward", "use backward='dense'"
        )
    plan = SimulationPlan.build(net, T, encoding, coding_seed)
    x = np.ascontiguousarray(x, np.float32)
    tape = Tape(plan, plan.static(x), {}, {}, np.empty(0), noise_seed, sparse, capacity if capacity is not None else {})
    spikes_in = plan.input_spikes(Batch(x, first_index))
    for node in plan.graph.nodes:
        name, spec = node.name, node.spec
        if not plan.dynamic[name]:
            continue
        if spec.role == "input":
            coded = np.ascontiguousarray(np.swapaxes(spikes_in, 0, 1), np.float32)  # (T, N) + shape
            if plan.amplitude != 1:
                coded *= np.float32(plan.amplitude)
            tape.values[name] = np.asarray(spec.spike_steps(node, [coded], None), np.float32)
        elif spec.role == "activation":
            tape.values[name] = _neurons(tape, name, estimator)
        else:
            tape.values[name] = _synaptic(tape, node)
    tape.output = _output(tape)
    return tape


def _synaptic(tape: Tape, node) -> np.ndarray:
    """The dynamic part of a node between neuron layers over all steps."""
    plan, n = tape.plan, tape.n
    inputs = [
        tape.values[i] if plan.dynamic[i] else np.zeros((plan.T, n) + plan.graph.node(i).shape, np.float32)
        for i in node.inputs
    ]
    if node.spec.trainable_params and len(inputs) == 1:  # conv, dense: events or a product
        from .synapses import linear_forward

        out, tape.density[node.name] = linear_forward(
            node, inputs[0], plan.graph.node(node.inputs[0]).shape, EVENTS_BELOW
        )
        return out
    state = node.spec.spike_state(node, n, [plan.graph.node(i).shape for i in node.inputs])
    return np.asarray(node.spec.spike_steps(node, inputs, state), np.float32)


def _neurons(tape: Tape, name: str, estimator: Estimator) -> np.ndarray:
    """Neuron layer ``name`` over all steps: its values θ·s, and its trace into ``tape``."""
    plan, n = tape.plan, tape.n
    net, node = plan.net, plan.graph.node(name)
    leak, reset = membrane_dynamics(net.layers[name], name)
    source, shape = node.inputs[0], node.shape
    size = int(np.prod(shape))
    static = tape.static[source]
    rows = static[:1] if static.strides[0] == 0 else static  # one row when all samples share it
    static = np.ascontiguousarray(rows, np.float32).reshape(len(rows), size)
    current = tape.values[source].reshape(plan.T, n, size) if plan.dynamic[source] else None
    trace = LayerTrace(
        plan.layers.index(name),
        per_neuron(net.layers[name].threshold, shape).reshape(size),
        per_neuron(net.layers[name].v0, shape).reshape(size),
        leak,
        reset,
    )
    bias = _temporal_bias(net, name, shape, plan.T)
    tape.layers[name] = trace
    if tape.sparse:
        from .sparse_forward import sparse_neurons

        values = sparse_neurons(tape, name, trace, static, current, bias, estimator)
    else:
        from .twins import leaky_steps

        smooth = estimator.width if estimator.smooth_forward else None
        values, trace.u = leaky_steps(plan.T, n, static, current, bias, trace.v0, trace.theta, leak, reset, smooth)
    return values.reshape((plan.T, n) + shape)


def _temporal_bias(net: SpikingNetwork, name: str, shape: tuple[int, ...], T: int) -> np.ndarray | None:
    """The layer's temporal bias per neuron for the steps it has one, (T_b, n), or None."""
    bias = net.layers[name].temporal_bias
    if bias is None:
        return None
    rows = [per_neuron(bias[t], shape).reshape(-1) for t in range(min(T, len(bias)))]
    return np.ascontiguousarray(np.stack(rows), np.float32) if rows else None


def _output(tape: Tape) -> np.ndarray:
    """o(t) for every step, accumulated in step order as the engines add."""
    plan = tape.plan
    out = plan.graph.output
    static = tape.static[out]
    step = plan.static_weights.reshape((-1,) + (1,) * static.ndim) * static[None]
    if plan.dynamic[out]:
        step = step + plan.dynamic_weights.reshape((-1,) + (1,) * static.ndim) * tape.values[out]
    return np.add.accumulate(step.astype(np.float32), axis=0)
