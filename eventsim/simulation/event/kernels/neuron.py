"""Neuron layers: add the static current (computed once per sample), the dynamic current of the step
and the temporal bias, apply the kind's rule to every neuron, and emit the spikes. This and the
accumulator clears are the engine's only dense work."""

from __future__ import annotations

import numpy as np
from numba import njit

from ....snn.kinds.base import IDLE
from ..kinds import update
from . import checks
from .events import emit

#: The kinds of the event engine's table (:data:`~eventsim.simulation.event.kinds.RULES`) compiled
#: into this module's cached kernels. Numba invalidates a cached kernel only when its own file
#: changes, not when a rule it inlines does: a new kind edits this line too, which recompiles them
#: (tests/snn/test_kinds.py holds it to the table).
COMPILED_KINDS = ("if", "bistable", "ttfs", "lif", "single_spike", "burst", "signed")


@njit(cache=True, inline="always")
def _dynamic_current(p, ws, k, current):
    """The step's dynamic input current of layer k: the dense accumulator of its input node, or its
    input's events added into ``current`` (which is zero between steps)."""
    j = p.in_idx[p.in_ptr[k]]
    if p.dense_output[j]:
        return ws.fbuf[p.fbuf_ptr[j] : p.fbuf_ptr[j] + p.size[k]]
    ev_idx, ev_val, first = ws.ev_idx, ws.ev_val, p.ev_ptr[j]
    for e in range(ws.ev_n[j]):
        current[ev_idx[first + e]] += ev_val[first + e]
    return current


@njit(cache=True, inline="always")
def _fire_sum(kind, v, memory, static, dynamic, theta, phase, spikes):
    """The rule on every neuron with input static + dynamic; spike counts into ``spikes``."""
    for i in range(v.shape[0]):
        v_new, spike, kept = update(kind, v[i], static[i] + dynamic[i], theta[i], phase, memory[i])
        v[i] = v_new
        memory[i] = kept
        spikes[i] = spike


@njit(cache=True, inline="always")
def _fire(kind, v, memory, current, theta, phase, spikes):
    """The rule on every neuron with input ``current``; spike counts into ``spikes``."""
    for i in range(v.shape[0]):
        v_new, spike, kept = update(kind, v[i], current[i], theta[i], phase, memory[i])
        v[i] = v_new
        memory[i] = kept
        spikes[i] = spike


@njit(cache=True, inline="always")
def _emit_spikes(p, ws, rec, k, t, theta, spikes):
    """Emit an event carrying k·θ for every neuron that emitted k ≠ 0 spikes (``spikes``), count its
    |k| spikes, clear the mark. Returns the number of events."""
    ev_idx, ev_val, counts, raster, record_raster = ws.ev_idx, ws.ev_val, rec.counts, rec.raster, rec.record_raster
    layer, n = p.layer_of[k], p.size[k]
    offset, base = p.neuron_offset[layer], p.ev_ptr[k]
    fired = total = 0
    for i in range(n):
        if spikes[i] != 0:
            # the same float32 product as the reference's spikes × θ (exactly θ for one spike)
            fired = emit(ev_idx, ev_val, base, fired, i, spikes[i] * theta[i])
            many = np.int64(abs(spikes[i]))
            counts[offset + i] += many
            total += many
            if record_raster:
                raster[t, offset + i] = True
            spikes[i] = 0.0
    rec.spikes_sample[layer] += total
    rec.spikes_step[layer, t] += total
    if fired > 0 and rec.first_spike[layer] > rec.outputs.shape[0]:  # T + 1 (outputs: T rows): not yet
        rec.first_spike[layer] = t + 1
    return fired


@njit(cache=True)
def neuron_step(p, ws, rec, run, k, t):
    """One step of neuron layer k; returns the number of spikes (events) it emits."""
    phase = run.phases[p.layer_of[k], t]
    if phase == IDLE:
        return 0  # a waiting layer: its rule changes nothing and it cannot spike
    n, b0 = p.size[k], p.fbuf_ptr[k]
    v = ws.fbuf[b0 : b0 + n]
    current = ws.fbuf[b0 + n : b0 + 2 * n]  # the input current, then the spike counts
    memory = ws.fbuf[b0 + 2 * n : b0 + 3 * n]  # the kind's second number per neuron (from 0)
    theta = p.fpool[p.fparam_ptr[k] : p.fparam_ptr[k] + n]
    static = run.static[p.static_ptr[k] : p.static_ptr[k] + n]
    kind = p.kind_code[k]
    with_bias = p.bias_ptr[k] >= 0 and t < p.bias.shape[1]
    if p.in_ptr[k + 1] > p.in_ptr[k]:
        dynamic = _dynamic_current(p, ws, k, current)
        if not with_bias:  # one vectorisable pass: static + dynamic through the rule
            _fire_sum(kind, v, memory, static, dynamic, theta, phase, current)
            return _emit_spikes(p, ws, rec, k, t, theta, current)
        for i in range(n):
            current[i] = static[i] + dynamic[i]
    else:
        current[:] = static
    if with_bias:
        bias, ipool = p.bias, p.ipool
        channel0, bias0 = ipool[p.iparam_ptr[k]], p.bias_ptr[k]
        for i in range(n):
            current[i] = current[i] + bias[bias0 + ipool[channel0 + i], t]
    _fire(kind, v, memory, current, theta, phase, current)
    return _emit_spikes(p, ws, rec, k, t, theta, current)


def check_neuron(p, k: int, inputs, room: checks.Room) -> None:
    """θ and v0 per neuron; membrane, current and memory; its static current; its neurons' counts; the
    channel of each neuron and its temporal bias row."""
    n, layer = int(p.size[k]), int(p.layer_of[k])
    checks.require(len(inputs) <= 1 and all(p.size[j] == n for j in inputs), k, "input")
    checks.params(p, k, 2 * n)
    checks.work(room, k, 3 * n, 0)
    checks.require(0 <= p.static_ptr[k] and p.static_ptr[k] + n <= room.static_size, k, "static current")
    checks.require(0 <= layer and p.neuron_offset[layer + 1] - p.neuron_offset[layer] == n, k, "neurons")
    # channels index the layer's temporal bias rows (when it has them)
    checks.index_map(p, k, 0, n, p.bias.shape[0] - int(p.bias_ptr[k]) if p.bias_ptr[k] >= 0 else n)
