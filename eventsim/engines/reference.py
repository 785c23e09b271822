"""The reference engine: clock-driven, dense NumPy, written to be obviously right.

Every step it propagates the whole dynamic part of every value through the synaptic ops (the same
op forwards as the ANN executor, convolutions as BLAS matmuls), updates every neuron with the
kind's rule, and counts spikes and synaptic events from the dense arrays. It is the ground truth
that the event engine must reproduce.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..neurons import get_kind
from .plan import Plan, fanout_counts, linear_part


def run_reference(
    plan: Plan,
    x: np.ndarray,
    T: int,
    seed: int,
    first_index: int,
    raster_samples: tuple[int, ...],
    tap: str | None = None,
) -> dict:
    """Simulate a batch; returns the raw recording fields (see :class:`~eventsim.recording.Recording`).

    With ``tap`` (a neuron layer), only the layers up to it are simulated and the result is
    ``{"currents": (T, N) + shape}``: that layer's input current in every step, without its own
    temporal bias (what calibration methods fit their parameters to).
    """
    net, graph = plan.net, plan.graph
    n = len(x)
    static = plan.static(x)
    spikes_in = plan.input_spikes(x, T, seed, first_index)
    amplitude = np.float32(plan.input_amplitude(T))
    if "linear" not in plan.cache:  # derived once per simulate() call
        plan.cache["linear"] = {node.name: linear_part(node) for node in graph.nodes}
        plan.cache["fanout"] = {name: fanout_counts(graph, name) for name in plan.synaptic}
    linear, fanout = plan.cache["linear"], plan.cache["fanout"]
    state = {name: np.broadcast_to(net.v0_array(name), (n,) + graph.node(name).shape).copy() for name in plan.layers}
    theta = {name: net.threshold_array(name) for name in plan.layers}
    pooled = {}  # max pool: cumulative input and its pooled value of the previous step
    for node in graph.nodes:
        if node.op == "maxpool" and plan.dynamic[node.name]:
            pooled[node.name] = [
                np.zeros((n,) + graph.node(node.inputs[0]).shape, np.float32),
                np.zeros((n,) + node.shape, np.float32),
            ]
    out_shape = graph.node(graph.output).shape
    outputs = np.zeros((n, T, int(np.prod(out_shape))), np.float32)
    acc = np.zeros((n,) + out_shape, np.float32)
    spikes_step = np.zeros((len(plan.layers), T), np.int64)
    spikes_sample = np.zeros((n, len(plan.layers)), np.int64)
    first_spike = np.full((n, len(plan.layers)), T + 1, np.int64)  # T + 1: the layer never fired
    counts = {name: np.zeros(graph.node(name).shape, np.int64) for name in plan.layers}
    sops_step = np.zeros((len(plan.synaptic), T), np.int64)
    sops_sample = np.zeros((n, len(plan.synaptic)), np.int64)
    rasters = {
        i: {name: np.zeros((T,) + graph.node(name).shape, bool) for name in plan.layers}
        for i in raster_samples
        if i < n
    }
    tapped = np.zeros((T, n) + graph.node(tap).shape, np.float32) if tap else None
    phases, (static_w, dynamic_w) = net.phases(T), net.output_weights(T)
    delayed = {
        node.name: deque(np.zeros((n,) + node.shape, np.float32) for _ in range(node.attrs["steps"]))
        for node in graph.nodes
        if node.op == "delay" and plan.dynamic[node.name]
    }
    for t in range(T):
        dyn: dict[str, np.ndarray] = {}
        for node in graph.nodes:
            name = node.name
            if name == tap:
                source = node.inputs[0]
                tapped[t] = static[source] + dyn[source] if plan.dynamic[source] else static[source]
                break
            if not plan.dynamic[name]:
                continue
            if node.op == "input":
                dyn[name] = linear[name].spec.forward(linear[name], [spikes_in[:, t] * amplitude])
            elif node.spec.role == "activation":
                k = plan.layers.index(name)
                source = node.inputs[0]
                current = static[source] + dyn[source] if plan.dynamic[source] else static[source]
                bias = net.bias_at(name, t)
                if bias is not None:
                    current = current + bias
                rule = get_kind(net.layers[name].kind).update
                state[name], spikes = rule(state[name], current, theta[name], phases[k, t])
                dyn[name] = (spikes * theta[name]).astype(np.float32)
                per_sample = spikes.reshape(n, -1).sum(axis=1)
                spikes_step[k, t] = per_sample.sum()
                spikes_sample[:, k] += per_sample
                first_spike[:, k] = np.where((per_sample > 0) & (first_spike[:, k] > T), t + 1, first_spike[:, k])
                counts[name] += spikes.sum(axis=0)
                for i in rasters:
                    rasters[i][name][t] = spikes[i]
            elif node.op == "maxpool":
                cumulative, previous = pooled[name]
                cumulative += dyn[node.inputs[0]]
                current = node.spec.forward(node, [cumulative])
                dyn[name] = current - previous
                pooled[name][1] = current
            else:
                inputs = [dyn[i] if plan.dynamic[i] else np.zeros_like(static[i]) for i in node.inputs]
                if name in fanout:
                    s = plan.synaptic.index(name)
                    per_sample = ((inputs[0] != 0) * fanout[name]).reshape(n, -1).sum(axis=1)
                    sops_step[s, t] = per_sample.sum()
                    sops_sample[:, s] += per_sample
                if node.op == "delay":  # out comes what went in `steps` steps ago
                    dyn[name] = delayed[name].popleft()
                    delayed[name].append(inputs[0].astype(np.float32, copy=True))
                else:
                    dyn[name] = linear[name].spec.forward(linear[name], inputs).astype(np.float32)
        if tap:
            continue
        out = graph.output
        # the output's weights per step: see SpikingNetwork.output_weights
        if plan.dynamic[out]:
            acc = acc + (static_w[t] * static[out] + dynamic_w[t] * dyn[out])
        else:
            acc = acc + static_w[t] * static[out]
        outputs[:, t] = acc.reshape(n, -1)
    if tap:
        return {"currents": tapped}
    return dict(
        outputs=outputs,
        spikes_per_step=spikes_step,
        spikes_per_sample=spikes_sample,
        first_spike=first_spike,
        neuron_counts=counts,
        sops_per_step=sops_step,
        sops_per_sample=sops_sample,
        rasters=rasters,
    )
