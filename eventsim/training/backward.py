"""Backpropagation through time over a :class:`~eventsim.training.forward.Tape`: the dense NumPy
reference and the sparse pass, one walk over the graph.

Every value is a static part (the same in every step) plus a dynamic part (T steps), so its
gradient is too: the static part's gradient is the sum over the steps. Walking the graph backwards,

- a neuron layer turns dL/d(its spikes) into dL/d(its input current) e(t) by the backward leaky
  scan, with dS/du replaced by the estimator (zero off the active entries) and the reset detached
  unless asked otherwise; its input node gets e (dynamic) and Σ_t e (static);
- every other node passes gradients to its inputs and params by its op's training facet:
  ``spike_backward`` for the dynamic part, ``backward`` for the static part.

The two passes differ in where they spend time. The dense pass computes everything, plainly. The
sparse pass visits only active entries in the scan (Numba), and for dense and conv nodes computes
the weight gradient from the non-zero inputs only and the input gradient only where the layer below
is active (a mask carried forward through the ops between; :func:`needed`). Both give the same
gradients, to float rounding, when the forward drew the same estimator samples (it does: the draws
are keyed by entry, not by visit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .checks import check_leaky_scan
from .estimators import Estimator
from .forward import EVENTS_BELOW, Tape
from .membrane import ONCE
from .twins import estimates, leaky_backward


@dataclass
class Gradients:
    """What :func:`backward` returns.

    Attributes
    ----------
    params : dict of (str, str) to numpy.ndarray
        dL/d(param) by (node name, param key), for every weighted node.
    decode_weights : numpy.ndarray or None
        dL/dw_τ of the temporal decoding weights (T,), when the output has a dynamic part.
    active : dict of str to int
        Active entries per layer (the estimator's dS/du ≠ 0).
    entries : dict of str to int
        All entries per layer (T·N·n).
    """

    params: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    decode_weights: np.ndarray | None = None
    active: dict[str, int] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)
    #: dL/d(param) of the neuron parameters asked for, by layer and name (the parameters' shapes).
    layers: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def add(self, node: str, params: dict[str, np.ndarray]) -> None:
        for key, value in params.items():
            slot = (node, key)
            self.params[slot] = value if slot not in self.params else self.params[slot] + value


def spike_count_penalty(tape: Tape, weight: float) -> tuple[float, dict[str, float]]:
    """``weight`` × Σ over layers of the layer's mean spikes per neuron and step, and its constant
    gradient dL/dS per layer."""
    value, grads = 0.0, {}
    for name, trace in tape.layers.items():
        entries = tape.values[name].size
        value += weight * float(np.sum(tape.values[name].reshape(-1, trace.theta.size) / trace.theta)) / entries
        grads[name] = weight / entries
    return value, grads


def backward(
    tape: Tape,
    grad_output: np.ndarray,
    estimator: Estimator,
    *,
    detach_reset: bool = True,
    spike_grads: dict[str, float] | None = None,
    neuron_params: tuple[str, ...] = (),
) -> Gradients:
    """The gradients of a loss whose gradient by o(t) is ``grad_output`` (T, N) + output shape.

    Parameters
    ----------
    tape : Tape
        The batch's forward; its ``sparse`` flag picks the pass.
    grad_output : numpy.ndarray
        dL/do(t).
    estimator : Estimator
        The estimator the forward used.
    detach_reset : bool
        Treat the reset as a constant (LocalZO's and the usual choice); False differentiates it.
    spike_grads : dict, optional
        A constant dL/dS per layer (:func:`spike_count_penalty`).
    neuron_params : tuple of str
        Neuron parameters whose gradients to compute too (of
        :data:`eventsim.training.neuron_grads.NEURON_PARAMS`).
    """
    plan, graph = tape.plan, tape.plan.graph
    spike_grads = spike_grads or {}
    result = Gradients()
    # o(t) = Σ_{τ≤t} (sw_τ·static + dw_τ·dynamic_τ): each step's output reaches every later o(t)
    later = np.cumsum(grad_output[::-1], axis=0, dtype=np.float64)[::-1]
    out = graph.output
    shape = (-1,) + (1,) * (later.ndim - 1)
    gstat = {out: np.tensordot(plan.static_weights, later, axes=(0, 0)).astype(np.float32)}
    gdyn = {}
    if plan.dynamic[out]:
        gdyn[out] = (plan.dynamic_weights.reshape(shape) * later).astype(np.float32)
        steps = len(later)
        result.decode_weights = np.sum(later.reshape(steps, -1) * tape.values[out].reshape(steps, -1), axis=1)
        result.decode_weights = result.decode_weights.astype(np.float32)
    masks = Needs(spikes="threshold" in neuron_params)
    for node in reversed(graph.nodes):
        name, role = node.name, node.spec.role
        if role == "input":
            continue
        if role == "activation":
            e = _neurons(
                tape, name, gdyn.pop(name, None), estimator, detach_reset, spike_grads.get(name, 0.0), result,
                neuron_params,
            )  # fmt: skip
            source = node.inputs[0]
            _accumulate(gstat, source, e.sum(axis=0))
            if plan.dynamic[source]:
                _accumulate(gdyn, source, e)
            continue
        if name in gdyn:
            _dynamic(tape, node, gdyn.pop(name), gdyn, masks, result)
        if name in gstat:
            _static(tape, node, gstat.pop(name), gstat, result)
    return result


def _accumulate(grads: dict[str, np.ndarray], name: str, value: np.ndarray) -> None:
    grads[name] = value if name not in grads else grads[name] + value


def _neurons(
    tape: Tape, name: str, grad, estimator: Estimator, detach: bool, spike_grad: float, result, wanted=()
) -> np.ndarray:
    """dL/d(input current) of neuron layer ``name`` from dL/d(its values) (module docstring)."""
    trace, values = tape.layers[name], tape.values[name]
    detach = detach or trace.reset == ONCE  # a single-spike neuron's silencing is never differentiated
    steps, n = values.shape[:2]
    size = trace.theta.size
    values = values.reshape(steps, n, size)
    grad = np.zeros(values.shape, np.float32) if grad is None else np.ascontiguousarray(grad, np.float32)
    grad = grad.reshape(values.shape)
    result.entries[name] = values.size
    if not tape.sparse:
        g = estimates(estimator, trace.u, tape.noise_seed, trace.index)
        result.active[name] = int(np.count_nonzero(g))
        e, grad_v0 = leaky_backward(grad, values, trace.u, trace.theta, trace.leak, trace.reset, detach, spike_grad, g)
    elif trace.pos is None:  # the dense trace of an estimator that is nowhere zero
        from .kernels.neurons import leaky_scan_dense

        e, grad_v0, counts = np.empty(values.shape, np.float32), np.empty((n, size), np.float32), np.empty(n, np.int64)
        check_leaky_scan(grad, values, trace.theta, *_no_entries(n), e, grad_v0)
        _require_shape(trace.u, values)
        leaky_scan_dense(
            grad, values, trace.u, trace.theta, trace.leak, trace.reset, detach, np.float32(spike_grad),
            estimator.code, estimator.params(), np.int64(tape.noise_seed), np.int64(trace.index), e, grad_v0, counts,
        )  # fmt: skip
        result.active[name] = int(counts.sum())
    else:
        from .kernels.neurons import leaky_scan

        result.active[name] = trace.active_entries
        e, grad_v0 = np.empty(values.shape, np.float32), np.empty((n, size), np.float32)
        arrays = (trace.pos, trace.est, trace.us, trace.counts)
        check_leaky_scan(grad, values, trace.theta, *arrays, e, grad_v0)
        leaky_scan(
            grad, values, trace.theta, trace.leak, trace.reset, detach, np.float32(spike_grad), *arrays, e, grad_v0
        )
    if wanted:
        if tape.sparse:
            g = None if trace.pos is not None else estimates(estimator, trace.u, tape.noise_seed, trace.index)
        result.layers[name] = _own_params(tape, name, values, grad, e, grad_v0, g, detach, spike_grad, wanted)
    source_shape = tape.plan.graph.node(tape.plan.graph.node(name).inputs[0]).shape
    return e.reshape((steps, n) + source_shape)


def _own_params(tape: Tape, name: str, values, grad, e, grad_v0, g, detach, spike_grad, wanted) -> dict:
    """The gradients of layer ``name``'s own parameters, in their shapes."""
    from .neuron_grads import neuron_param_grads, to_param_shape

    layer, shape = tape.plan.net.layers[name], tape.plan.graph.node(name).shape
    steps = min(tape.plan.T, len(layer.temporal_bias)) if layer.temporal_bias is not None else 0
    grads = neuron_param_grads(tape.layers[name], values, grad, e, grad_v0, g, detach, spike_grad, wanted, steps)
    out = {}
    for key, value in grads.items():
        param = getattr(layer, key)
        if key == "temporal_bias":
            full = np.zeros(param.shape, np.float32)
            full[:steps] = to_param_shape(value, param[:steps], shape)
            out[key] = full
        else:
            out[key] = to_param_shape(value, param, shape)
    return out


def _no_entries(n: int) -> tuple:
    return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32), np.zeros((n, 0), np.float32), np.zeros(n, np.int64)


def _require_shape(u: np.ndarray, values: np.ndarray) -> None:
    if u.shape != values.shape or u.dtype != np.float32 or not u.flags.c_contiguous:
        from .checks import _require

        _require(False, "dense trace")


def _dynamic(tape: Tape, node, grad: np.ndarray, gdyn: dict, masks: Needs, result: Gradients) -> None:
    """Pass the gradient of a node's dynamic part to its dynamic inputs and its params."""
    plan, n = tape.plan, tape.n
    inputs = [
        tape.values[i] if plan.dynamic[i] else np.zeros((plan.T, n) + plan.graph.node(i).shape, np.float32)
        for i in node.inputs
    ]
    if tape.sparse and node.spec.trainable_params and len(inputs) == 1:
        from .synapses import sparse_linear_backward

        mask = needed(tape, node.inputs[0], masks)
        grad_x, grad_w = sparse_linear_backward(node, inputs[0], grad, mask, EVENTS_BELOW, tape.density.get(node.name))
        grads, params = [grad_x], {"W": grad_w}
    else:
        grads, params = node.spec.spike_backward(node, inputs, grad)
    result.add(node.name, params)
    for source, g in zip(node.inputs, grads):
        if g is not None and plan.dynamic[source] and plan.graph.node(source).spec.role != "input":
            _accumulate(gdyn, source, np.asarray(g, np.float32))


def _static(tape: Tape, node, grad: np.ndarray, gstat: dict, result: Gradients) -> None:
    """Pass the gradient of a node's static part to its inputs' static parts and its params."""
    graph = tape.plan.graph
    inputs = [tape.static[i] for i in node.inputs]
    if all(x.strides[0] == 0 for x in inputs):  # shared by all samples: one row, gradients summed
        inputs, grad = [x[:1] for x in inputs], grad.sum(axis=0, keepdims=True)
    grads, params = node.spec.backward(node, inputs, grad)
    result.add(node.name, params)
    for source, g in zip(node.inputs, grads):
        if g is not None and graph.node(source).spec.role not in ("input", "activation"):
            _accumulate(gstat, source, np.asarray(g, np.float32))


@dataclass
class Needs:
    """The positions whose gradient the sparse pass needs, per node (:func:`needed`), and whether a
    layer's spikes are among them (its threshold trains: θ's gradient reads every spike)."""

    spikes: bool = False
    masks: dict[str, np.ndarray | None] = field(default_factory=dict)


def needed(tape: Tape, name: str, needs: Needs) -> np.ndarray | None:
    """Where the gradient of node ``name``'s dynamic part is needed, bool (T, N) + shape, or None if
    nowhere: at a neuron layer's active entries (and its spikes when thresholds train), and at every
    later position that a needed position
    feeds (forward through the ops between, with their weights' magnitudes so that nothing cancels;
    through ops with state, from the step it arrives on). The input needs none."""
    masks = needs.masks
    if name in masks:
        return masks[name]
    plan, node = tape.plan, tape.plan.graph.node(name)
    if not plan.dynamic[name] or node.spec.role == "input":
        masks[name] = None
    elif node.spec.role == "activation":
        active = tape.layers[name].active
        shape = (plan.T, tape.n) + node.shape
        masks[name] = np.ones(shape, bool) if active is None else active.reshape(shape)  # dense trace: all
        if needs.spikes and active is not None:  # θ's gradient reads dL/d(value) at every spike
            masks[name] = masks[name] | (tape.values[name] != 0)
    else:
        parts = [needed(tape, i, needs) for i in node.inputs]
        if all(p is None for p in parts):
            masks[name] = None
        else:
            masks[name] = _carry_mask(tape, node, parts)
    return masks[name]


def _carry_mask(tape: Tape, node, parts: list[np.ndarray | None]) -> np.ndarray:
    """The positions of ``node``'s output that needed input positions reach."""
    plan, n = tape.plan, tape.n
    stateful = node.spec.spike_state(node, 1, [plan.graph.node(i).shape for i in node.inputs]) is not None
    rows = []
    for source, part in zip(node.inputs, parts):
        shape = plan.graph.node(source).shape
        part = np.zeros((plan.T, n) + shape, bool) if part is None else part
        if stateful:  # what arrives at step t may leave at any later step
            part = np.logical_or.accumulate(part, axis=0)
        rows.append(part.reshape((plan.T * n,) + shape).astype(np.float32))
    bare = node.spec.without_constant(node)
    bare = bare.copy(params={key: np.abs(value) for key, value in bare.params.items()})
    reached = node.spec.forward(bare, rows) > 0
    return reached.reshape((plan.T, n) + node.shape)
