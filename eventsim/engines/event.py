"""The event engine: Numba kernels that propagate only the spikes that happen.

Per sample (samples in parallel over all cores) and per time step, every dynamic node of the
compiled :class:`~.program.Program` turns the events of its inputs into its own: a conv adds, for
each event, the kernel's contiguous rows of C_out weights to the in-bounds targets of its
channels-last accumulator; a dense layer adds one weight row; pools, adds and layout ops map events
to events (merged per index, so counts match the reference exactly); neuron layers add their
static current (computed once per sample) and the temporal bias, apply their kind's update rule to
every neuron, and emit spikes. Only neuron updates and the accumulator clears are dense work.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ..neurons import IDLE, KINDS
from .layout import to_graph, to_internal
from .plan import Plan
from .program import (
    OP_ADD,
    OP_AFFINE,
    OP_AVGPOOL,
    OP_CONV,
    OP_DELAY,
    OP_DENSE,
    OP_INPUT,
    OP_MAP,
    OP_MAXPOOL,
    OP_NEURON,
    build_program,
)

_if_update = KINDS["if"].update_jit
_bistable_update = KINDS["bistable"].update_jit
_KIND_IF = KINDS["if"].code
_KIND_BISTABLE = KINDS["bistable"].code
_ttfs_update = KINDS["ttfs"].update_jit
_KIND_TTFS = KINDS["ttfs"].code


@njit(cache=True, inline="always")
def _update(kind, v, current, theta, phase):
    """The rule of neuron kind ``kind`` (one branch per kind of :data:`eventsim.neurons.KINDS`)."""
    if kind == _KIND_BISTABLE:
        return _bistable_update(v, current, theta, phase)
    if kind == _KIND_TTFS:
        return _ttfs_update(v, current, theta, phase)
    return _if_update(v, current, theta, phase)


@njit(cache=True, inline="always")
def _emit(ev_idx, ev_val, base, n, index, value):
    ev_idx[base + n] = index
    ev_val[base + n] = value
    return n + 1


@njit(cache=True, inline="always")
def _window_geometry(geo, k):
    """Kernel, stride, top/left pads and dilation of node ``k``: (kh, kw, sh, sw, pt, pl, dh, dw)."""
    return geo[k, 6], geo[k, 7], geo[k, 8], geo[k, 9], geo[k, 10], geo[k, 11], geo[k, 12], geo[k, 13]


@njit(cache=True, inline="always")
def _decode(index, channels, width):
    """(row, column, channel) of a channels-last (HWC) flat index."""
    pos = index // channels
    return pos // width, pos % width, index % channels


@njit(cache=True, inline="always")
def _window_index(pos, pad, tap, dilation, stride, size_out):
    """The output position whose window holds input position ``pos`` at kernel tap ``tap``, or -1."""
    num = pos + pad - tap * dilation
    if num < 0 or num % stride != 0:
        return -1
    out = num // stride
    return out if out < size_out else -1


@njit(cache=True)
def _sample(
    program,
    static,
    spikes_in,
    rate,
    T,
    outputs,
    spikes_sample,
    first_spike,
    sops_sample,
    spikes_step,
    sops_step,
    counts,
    raster,
    record_raster,
    phases,
    static_w,
    dynamic_w,
):
    """Simulate one sample; ``program`` is the tuple of :func:`_program_arrays`; ``phases`` (layers, T)
    is what each neuron layer does per step, ``static_w``/``dynamic_w`` (T,) how the output
    accumulates (SpikingNetwork.output_weights)."""
    (
        op,
        size,
        in_ptr,
        in_idx,
        geo,
        fptr,
        fpool,
        iptr,
        ipool,
        fb_ptr,
        fb_size,
        ib_ptr,
        ib_size,
        ev_ptr,
        ev_size,
        needs_events,
        layer_of,
        kind_code,
        neuron_offset,
        sop_of,
        static_ptr,
        bias,
        bias_ptr,
        out_node,
        out_static,
        out_size,
        out_order,
    ) = program
    n_nodes = op.shape[0]
    fbuf = np.zeros(fb_size, np.float32)
    ibuf = np.zeros(ib_size, np.int64)
    ev_idx = np.empty(ev_size, np.int64)
    ev_val = np.empty(ev_size, np.float32)
    ev_n = np.zeros(n_nodes, np.int64)
    dirty = np.zeros(n_nodes, np.bool_)  # whether a conv/dense accumulator may hold non-zeros
    out_acc = np.zeros(out_size, np.float32)
    out_dyn = np.zeros(out_size, np.float32)
    bias_steps = bias.shape[1]
    for k in range(n_nodes):  # membranes start at v0
        if op[k] == OP_NEURON:
            for i in range(size[k]):
                fbuf[fb_ptr[k] + i] = fpool[fptr[k] + size[k] + i]
    for t in range(T):
        for k in range(n_nodes):
            code = op[k]
            base = ev_ptr[k]
            n_ev = 0
            if code == OP_INPUT:
                if rate:
                    for s in range(spikes_in.shape[1]):
                        if spikes_in[t, s]:
                            dst = ipool[iptr[k] + s]
                            value = fpool[fptr[k] + dst]
                            if value != 0:
                                n_ev = _emit(ev_idx, ev_val, base, n_ev, dst, value)
            elif (code == OP_CONV or code == OP_DENSE) and ev_n[in_idx[in_ptr[k]]] == 0 and not dirty[k]:
                pass  # no events and a clear accumulator: nothing to add, nothing to emit
            elif code == OP_CONV or code == OP_DENSE:
                acc0 = fb_ptr[k]
                acc = fbuf[acc0 : acc0 + size[k]]
                acc[:] = 0.0
                j = in_idx[in_ptr[k]]
                dirty[k] = ev_n[j] > 0
                w0 = fptr[k]
                sops = 0
                # rows of 2-D views: the inner loops become plain contiguous vector adds
                if code == OP_DENSE:
                    n_out = size[k]
                    weights = fpool[w0 : w0 + geo[k, 0] * n_out].reshape(geo[k, 0], n_out)
                    for e in range(ev_n[j]):
                        a = ev_val[ev_ptr[j] + e]
                        w_row = weights[ev_idx[ev_ptr[j] + e]]
                        for o in range(n_out):
                            acc[o] += a * w_row[o]
                        sops += n_out
                else:
                    c_in, w_in = geo[k, 0], geo[k, 2]
                    c_out, h_out, w_out = geo[k, 3], geo[k, 4], geo[k, 5]
                    kh, kw, sh, sw, pt, pl, dh, dw, groups = _window_geometry(geo, k) + (geo[k, 14],)
                    c_g = c_in // groups
                    o_g = c_out // groups
                    weights = fpool[w0 : w0 + groups * kh * kw * c_g * o_g].reshape(groups * kh * kw * c_g, o_g)
                    acc2 = acc.reshape(h_out * w_out, c_out)
                    for e in range(ev_n[j]):
                        idx = ev_idx[ev_ptr[j] + e]
                        a = ev_val[ev_ptr[j] + e]
                        y, x, c = _decode(idx, c_in, w_in)
                        g = c // c_g
                        cl = c - g * c_g
                        for ki in range(kh):
                            oy = _window_index(y, pt, ki, dh, sh, h_out)
                            if oy < 0:
                                continue
                            for kj in range(kw):
                                ox = _window_index(x, pl, kj, dw, sw, w_out)
                                if ox < 0:
                                    continue
                                w_row = weights[((g * kh + ki) * kw + kj) * c_g + cl]
                                out_row = acc2[oy * w_out + ox, g * o_g : (g + 1) * o_g]
                                for o in range(o_g):
                                    out_row[o] += a * w_row[o]
                                sops += o_g
                s = sop_of[k]
                sops_sample[s] += sops
                sops_step[s, t] += sops
                if needs_events[k]:
                    for i in range(size[k]):
                        if fbuf[acc0 + i] != 0:
                            n_ev = _emit(ev_idx, ev_val, base, n_ev, i, fbuf[acc0 + i])
            elif code == OP_NEURON and kind_code[k] != _KIND_IF and phases[layer_of[k], t] == IDLE:
                pass  # a waiting bistable/TTFS layer: its rule changes nothing and it cannot spike
            elif code == OP_NEURON:
                n = size[k]
                v = fbuf[fb_ptr[k] : fb_ptr[k] + n]
                current = fbuf[fb_ptr[k] + n : fb_ptr[k] + 2 * n]
                st = static[static_ptr[k] : static_ptr[k] + n]
                theta = fpool[fptr[k] : fptr[k] + n]
                # one vectorisable pass: current = static + dynamic (+ bias), then the kind's rule;
                # `current` keeps the spike indicator for the emitting pass
                with_bias = bias_ptr[k] >= 0 and t < bias_steps
                if in_ptr[k + 1] > in_ptr[k]:
                    j = in_idx[in_ptr[k]]
                    if op[j] == OP_CONV or op[j] == OP_DENSE:
                        dyn = fbuf[fb_ptr[j] : fb_ptr[j] + n]
                    else:  # events scattered into the (zeroed) current buffer
                        dyn = current
                        for e in range(ev_n[j]):
                            current[ev_idx[ev_ptr[j] + e]] += ev_val[ev_ptr[j] + e]
                    if with_bias:
                        for i in range(n):
                            current[i] = st[i] + dyn[i]
                    else:
                        kind, phase = kind_code[k], phases[layer_of[k], t]
                        for i in range(n):
                            v_new, spike = _update(kind, v[i], st[i] + dyn[i], theta[i], phase)
                            v[i] = v_new
                            current[i] = 1.0 if spike else 0.0
                else:
                    current[:] = st
                    with_bias = True  # take the general path below
                if with_bias:
                    if bias_ptr[k] >= 0 and t < bias_steps:
                        channel = ipool[iptr[k] : iptr[k] + n]
                        for i in range(n):
                            current[i] = current[i] + bias[bias_ptr[k] + channel[i], t]
                    kind, phase = kind_code[k], phases[layer_of[k], t]
                    for i in range(n):
                        v_new, spike = _update(kind, v[i], current[i], theta[i], phase)
                        v[i] = v_new
                        current[i] = 1.0 if spike else 0.0
                layer = layer_of[k]
                offset = neuron_offset[layer]
                fired = 0
                for i in range(n):
                    if current[i] != 0:
                        n_ev = _emit(ev_idx, ev_val, base, n_ev, i, theta[i])
                        counts[offset + i] += 1
                        if record_raster:
                            raster[t, offset + i] = True
                        current[i] = 0.0
                        fired += 1
                spikes_sample[layer] += fired
                spikes_step[layer, t] += fired
                if fired > 0 and first_spike[layer] > T:
                    first_spike[layer] = t + 1
            elif code == OP_AVGPOOL or code == OP_ADD:
                sums0 = fb_ptr[k]
                flag0 = ib_ptr[k]
                list0 = ib_ptr[k] + size[k]
                n_touched = 0
                sops = 0
                for q in range(in_ptr[k], in_ptr[k + 1]):
                    j = in_idx[q]
                    for e in range(ev_n[j]):
                        idx = ev_idx[ev_ptr[j] + e]
                        a = ev_val[ev_ptr[j] + e]
                        if code == OP_ADD:
                            fbuf[sums0 + idx] += a
                            if ibuf[flag0 + idx] == 0:
                                ibuf[flag0 + idx] = 1
                                ibuf[list0 + n_touched] = idx
                                n_touched += 1
                            continue
                        c_in, w_in = geo[k, 0], geo[k, 2]
                        h_out, w_out = geo[k, 4], geo[k, 5]
                        kh, kw, sh, sw, pt, pl, dh, dw = _window_geometry(geo, k)
                        y, x, c = _decode(idx, c_in, w_in)
                        for ki in range(kh):
                            oy = _window_index(y, pt, ki, dh, sh, h_out)
                            if oy < 0:
                                continue
                            for kj in range(kw):
                                ox = _window_index(x, pl, kj, dw, sw, w_out)
                                if ox < 0:
                                    continue
                                o = (oy * w_out + ox) * c_in + c
                                fbuf[sums0 + o] += a
                                sops += 1
                                if ibuf[flag0 + o] == 0:
                                    ibuf[flag0 + o] = 1
                                    ibuf[list0 + n_touched] = o
                                    n_touched += 1
                for q in range(n_touched):
                    o = ibuf[list0 + q]
                    value = fbuf[sums0 + o]
                    if code == OP_AVGPOOL:
                        value = value / fpool[fptr[k] + o]
                    fbuf[sums0 + o] = 0.0
                    ibuf[flag0 + o] = 0
                    if value != 0:
                        n_ev = _emit(ev_idx, ev_val, base, n_ev, o, value)
                if code == OP_AVGPOOL:
                    s = sop_of[k]
                    sops_sample[s] += sops
                    sops_step[s, t] += sops
            elif code == OP_MAXPOOL:
                j = in_idx[in_ptr[k]]
                c_in, h_in, w_in = geo[k, 0], geo[k, 1], geo[k, 2]
                h_out, w_out = geo[k, 4], geo[k, 5]
                kh, kw, sh, sw, pt, pl, dh, dw = _window_geometry(geo, k)
                cum0 = fb_ptr[k]
                pooled0 = fb_ptr[k] + size[j]
                flag0 = ib_ptr[k]
                list0 = ib_ptr[k] + size[k]
                n_touched = 0
                for e in range(ev_n[j]):
                    idx = ev_idx[ev_ptr[j] + e]
                    fbuf[cum0 + idx] += ev_val[ev_ptr[j] + e]
                    y, x, c = _decode(idx, c_in, w_in)
                    for ki in range(kh):
                        oy = _window_index(y, pt, ki, dh, sh, h_out)
                        if oy < 0:
                            continue
                        for kj in range(kw):
                            ox = _window_index(x, pl, kj, dw, sw, w_out)
                            if ox < 0:
                                continue
                            o = (oy * w_out + ox) * c_in + c
                            if ibuf[flag0 + o] == 0:
                                ibuf[flag0 + o] = 1
                                ibuf[list0 + n_touched] = o
                                n_touched += 1
                for q in range(n_touched):
                    o = ibuf[list0 + q]
                    ibuf[flag0 + o] = 0
                    c = o % c_in
                    pos = o // c_in
                    ox = pos % w_out
                    oy = pos // w_out
                    best = -np.inf
                    for ki in range(kh):
                        y = oy * sh - pt + ki * dh
                        if y < 0 or y >= h_in:
                            continue
                        for kj in range(kw):
                            x = ox * sw - pl + kj * dw
                            if x < 0 or x >= w_in:
                                continue
                            value = fbuf[cum0 + (y * w_in + x) * c_in + c]
                            if value > best:
                                best = value
                    if best != fbuf[pooled0 + o]:
                        n_ev = _emit(ev_idx, ev_val, base, n_ev, o, best - fbuf[pooled0 + o])
                        fbuf[pooled0 + o] = best
            elif code == OP_AFFINE:
                j = in_idx[in_ptr[k]]
                for e in range(ev_n[j]):
                    idx = ev_idx[ev_ptr[j] + e]
                    value = ev_val[ev_ptr[j] + e] * fpool[fptr[k] + idx]
                    if value != 0:
                        n_ev = _emit(ev_idx, ev_val, base, n_ev, idx, value)
            elif code == OP_DELAY:
                # a ring of `steps` event lists: emit what entered `steps` steps ago, store what enters now
                steps = geo[k, 0]
                slot = t % steps
                held = ib_ptr[k] + slot
                idx0 = ib_ptr[k] + steps + slot * size[k]
                val0 = fb_ptr[k] + slot * size[k]
                for e in range(ibuf[held]):
                    n_ev = _emit(ev_idx, ev_val, base, n_ev, ibuf[idx0 + e], fbuf[val0 + e])
                j = in_idx[in_ptr[k]]
                for e in range(ev_n[j]):
                    ibuf[idx0 + e] = ev_idx[ev_ptr[j] + e]
                    fbuf[val0 + e] = ev_val[ev_ptr[j] + e]
                ibuf[held] = ev_n[j]
                s = sop_of[k]
                sops_sample[s] += ev_n[j]
                sops_step[s, t] += ev_n[j]
            elif code == OP_MAP:
                for q in range(in_ptr[k], in_ptr[k + 1]):
                    j = in_idx[q]
                    start = ipool[iptr[k] + q - in_ptr[k]]
                    for e in range(ev_n[j]):
                        n_ev = _emit(
                            ev_idx, ev_val, base, n_ev, ipool[start + ev_idx[ev_ptr[j] + e]], ev_val[ev_ptr[j] + e]
                        )
            ev_n[k] = n_ev
        # the output accumulates its static part and what spikes brought this step
        ws, wd = static_w[t], dynamic_w[t]
        if out_node >= 0:
            if op[out_node] == OP_CONV or op[out_node] == OP_DENSE:
                for i in range(out_size):
                    out_dyn[i] = fbuf[fb_ptr[out_node] + i]
            else:
                for e in range(ev_n[out_node]):
                    out_dyn[ev_idx[ev_ptr[out_node] + e]] += ev_val[ev_ptr[out_node] + e]
            for i in range(out_size):
                out_acc[i] = out_acc[i] + (ws * static[out_static + i] + wd * out_dyn[i])
                out_dyn[i] = 0.0
        else:
            for i in range(out_size):
                out_acc[i] = out_acc[i] + ws * static[out_static + i]
        for g in range(out_size):
            outputs[t, g] = out_acc[out_order[g]]


@njit(parallel=True, cache=True)
def _batch(
    program,
    static,
    spikes_in,
    rate,
    T,
    outputs,
    spikes_sample,
    first_spike,
    sops_sample,
    spikes_step,
    sops_step,
    counts,
    rasters,
    raster_slot,
    phases,
    static_w,
    dynamic_w,
):
    for s in prange(static.shape[0]):
        tid = numba.get_thread_id()
        slot = raster_slot[s]
        _sample(
            program,
            static[s],
            spikes_in[s],
            rate,
            T,
            outputs[s],
            spikes_sample[s],
            first_spike[s],
            sops_sample[s],
            spikes_step[tid],
            sops_step[tid],
            counts[tid],
            rasters[max(slot, 0)],
            slot >= 0,
            phases,
            static_w,
            dynamic_w,
        )


def _program_arrays(p) -> tuple:
    """The program as the flat tuple the kernels unpack (order matters)."""
    return (
        p.op,
        p.size,
        p.in_ptr,
        p.in_idx,
        p.geometry,
        p.fparam_ptr,
        p.fpool,
        p.iparam_ptr,
        p.ipool,
        p.fbuf_ptr,
        p.fbuf_size,
        p.ibuf_ptr,
        p.ibuf_size,
        p.ev_ptr,
        p.ev_size,
        p.needs_events,
        p.layer_of,
        p.kind_code,
        p.neuron_offset,
        p.sop_of,
        p.static_ptr,
        p.bias,
        p.bias_ptr,
        p.output_node,
        p.output_static,
        p.output_size,
        p.output_order,
    )


def run_event(plan: Plan, x: np.ndarray, T: int, seed: int, first_index: int, raster_samples: tuple[int, ...]) -> dict:
    """Simulate a batch; returns the raw recording fields (see :class:`~eventsim.recording.Recording`)."""
    p = plan.cache.get("program")
    if p is None:  # compiled once per simulate() call, reused by every batch
        p = plan.cache["program"] = build_program(plan, T)
    graph = plan.graph
    n = len(x)
    values = plan.static(x)
    shared = plan.cache.setdefault("shared_internal", {})  # static parts equal for all samples
    parts = []
    for name, shape in zip(p.static_nodes, p.static_shapes):
        if name in plan.shared_static_names():
            if name not in shared:
                shared[name] = to_internal(values[name][:1], shape)
            parts.append(np.broadcast_to(shared[name], (n, shared[name].shape[1])))
        else:
            parts.append(to_internal(values[name], shape))
    static = np.concatenate(parts, axis=1)
    coded = plan.input_spikes(x, T, seed, first_index)
    rate = coded is not None  # the input arrives as spikes (rate or TTFS coding)
    spikes_in = coded.reshape(n, T, -1) if rate else np.zeros((n, 1, 1), np.bool_)
    threads = numba.get_num_threads()
    layers, synaptic = len(plan.layers), len(plan.synaptic)
    outputs = np.zeros((n, T, p.output_size), np.float32)
    spikes_sample = np.zeros((n, layers), np.int64)
    first_spike = np.full((n, layers), T + 1, np.int64)  # T + 1: the layer never fired
    sops_sample = np.zeros((n, synaptic), np.int64)
    spikes_step = np.zeros((threads, layers, T), np.int64)
    sops_step = np.zeros((threads, synaptic, T), np.int64)
    counts = np.zeros((threads, p.total_neurons), np.int64)
    wanted = [i for i in raster_samples if i < n]
    rasters = np.zeros((max(len(wanted), 1), T if wanted else 1, p.total_neurons if wanted else 1), np.bool_)
    raster_slot = np.full(n, -1, np.int64)
    for slot, i in enumerate(wanted):
        raster_slot[i] = slot
    _batch(
        _program_arrays(p),
        static,
        spikes_in,
        rate,
        T,
        outputs,
        spikes_sample,
        first_spike,
        sops_sample,
        spikes_step,
        sops_step,
        counts,
        rasters,
        raster_slot,
        plan.net.phases(T),
        *plan.net.output_weights(T),
    )
    total = counts.sum(axis=0)
    neuron_counts, raster_out = {}, {i: {} for i in wanted}
    for layer, name in enumerate(plan.layers):
        shape = graph.node(name).shape
        lo, hi = p.neuron_offset[layer], p.neuron_offset[layer + 1]
        neuron_counts[name] = to_graph(total[lo:hi], shape)
        for slot, i in enumerate(wanted):
            raster_out[i][name] = to_graph(rasters[slot, :, lo:hi], shape)
    return dict(
        outputs=outputs,
        spikes_per_step=spikes_step.sum(axis=0),
        spikes_per_sample=spikes_sample,
        first_spike=first_spike,
        neuron_counts=neuron_counts,
        sops_per_step=sops_step.sum(axis=0),
        sops_per_sample=sops_sample,
        rasters=raster_out,
    )
