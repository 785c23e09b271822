"""The step loop: one sample through all steps, every node of the program in graph order per step
(samples in parallel over all cores), and the output accumulated after each step."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ....snn.kinds.base import IDLE
from .codes import ADD, AFFINE, AVGPOOL, CONV, DELAY, DENSE, INPUT, MAP, MAXPOOL, NEURON, SPREAD
from .neuron import neuron_step
from .pooling import maxpool_step, sum_step
from .routing import affine_step, delay_step, input_step, map_step, spread_step
from .state import SampleRecord, SampleRun, Workspace, program_ref
from .synapse import accumulate_step

#: The kinds of the event engine's table (:data:`~eventsim.simulation.event.kinds.RULES`) compiled
#: into this module's cached kernels. Numba invalidates a cached kernel only when its own file
#: changes, not when a rule it inlines does: a new kind edits this line too, which recompiles them
#: (tests/snn/test_kinds.py holds it to the table).
COMPILED_KINDS = ("if", "bistable", "ttfs", "lif", "single_spike", "burst", "signed")


@njit(cache=True, inline="always")
def new_workspace(p):
    """Zeroed buffers of one sample, membranes at v0."""
    n_nodes = p.kernel.shape[0]
    ws = Workspace(
        np.zeros(p.fbuf_size, np.float32),
        np.zeros(p.ibuf_size, np.int64),
        np.empty(p.ev_size, np.int64),
        np.empty(p.ev_size, np.float32),
        np.zeros(n_nodes, np.int64),
        np.zeros(n_nodes, np.bool_),
        np.zeros(p.output_size, np.float32),
        np.zeros(p.output_size, np.float32),
    )
    for k in range(n_nodes):
        if p.kernel[k] == NEURON:
            for i in range(p.size[k]):
                ws.fbuf[p.fbuf_ptr[k] + i] = p.fpool[p.fparam_ptr[k] + p.size[k] + i]
    return ws


@njit(cache=True, inline="always")
def quiet(code, k, t, in_ptr, in_idx, layer_of, ev_n, dirty, phases):
    """Whether node k has nothing to do in step t (arrays passed in so that the hot loop reads them
    from locals)."""
    if code == NEURON:
        return phases[layer_of[k], t] == IDLE
    if code == DELAY or code == INPUT:
        return False
    for q in range(in_ptr[k], in_ptr[k + 1]):
        if ev_n[in_idx[q]] > 0:
            return False
    return not ((code == CONV or code == DENSE) and dirty[k])


@njit(cache=True, inline="always")
def step_node(code, p, ws, rec, run, k, t):
    """Run node k's kernel in step t; the number of events it emits."""
    if code == NEURON:
        return neuron_step(p, ws, rec, run, k, t)
    if code == CONV or code == DENSE:
        return accumulate_step(p, ws, rec, k, t)
    if code == AVGPOOL or code == ADD:
        return sum_step(p, ws, rec, k, t)
    if code == MAXPOOL:
        return maxpool_step(p, ws, k)
    if code == MAP:
        return map_step(p, ws, k)
    if code == AFFINE:
        return affine_step(p, ws, k)
    if code == DELAY:
        return delay_step(p, ws, rec, k, t)
    if code == SPREAD:
        return spread_step(p, ws, k)
    return input_step(p, ws, k, t, run.spikes_in)


@njit(cache=True, inline="always")
def accumulate_output(p, ws, run, rec, t):
    """The output takes its static part and what spikes brought in step t, with the step's weights,
    and is written out in graph order."""
    out, size = p.output_node, p.output_size
    w_static, w_dynamic = run.static_w[t], run.dynamic_w[t]
    static = run.static[p.output_static : p.output_static + size]
    acc, dynamic = ws.out_acc, ws.out_dyn
    if out >= 0:
        if p.dense_output[out]:
            dynamic[:] = ws.fbuf[p.fbuf_ptr[out] : p.fbuf_ptr[out] + size]
        else:
            ev_idx, ev_val, first = ws.ev_idx, ws.ev_val, p.ev_ptr[out]
            for e in range(ws.ev_n[out]):
                dynamic[ev_idx[first + e]] += ev_val[first + e]
        for i in range(size):
            acc[i] = acc[i] + (w_static * static[i] + w_dynamic * dynamic[i])
            dynamic[i] = 0.0
    else:
        for i in range(size):
            acc[i] = acc[i] + w_static * static[i]
    outputs, order = rec.outputs, p.output_order
    for g in range(size):
        outputs[t, g] = acc[order[g]]


@njit(cache=True)
def run_sample(arrays, run, rec):
    """Simulate one sample for all steps of the phase table."""
    p = program_ref(arrays)
    ws = new_workspace(p)
    kernel, in_ptr, in_idx, layer_of = p.kernel, p.in_ptr, p.in_idx, p.layer_of
    ev_n, dirty, phases = ws.ev_n, ws.dirty, run.phases
    for t in range(phases.shape[1]):
        for k in range(kernel.shape[0]):
            code = kernel[k]
            if quiet(code, k, t, in_ptr, in_idx, layer_of, ev_n, dirty, phases):
                ev_n[k] = 0
            else:
                ev_n[k] = step_node(code, p, ws, rec, run, k, t)
        accumulate_output(p, ws, run, rec, t)


@njit(parallel=True, cache=True)
def run_batch(p, static, spikes_in, phases, static_w, dynamic_w, outputs, per_sample, per_thread, rasters, slots):
    """Every sample of a batch, in parallel. ``per_sample`` = (spikes, first spikes, synaptic events)
    and ``per_thread`` = (spikes per step, synaptic events per step, neuron counts), indexed by sample
    and by thread; ``slots[s]`` is sample s's raster (-1: none)."""
    spikes_sample, first_spike, sops_sample = per_sample
    spikes_step, sops_step, counts = per_thread
    for s in prange(static.shape[0]):
        tid = numba.get_thread_id()
        slot = slots[s]
        rec = SampleRecord(
            outputs[s],
            spikes_sample[s],
            first_spike[s],
            sops_sample[s],
            spikes_step[tid],
            sops_step[tid],
            counts[tid],
            rasters[max(slot, 0)],
            slot >= 0,
        )
        run_sample(p, SampleRun(static[s], spikes_in[s], phases, static_w, dynamic_w), rec)
