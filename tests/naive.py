"""A naive dense simulation of integrate-and-fire networks, written from the spiking semantics alone.

It shares nothing with the engines' machinery (no static/dynamic split, no simulation plan, no
program): every step it recomputes every node's whole value with the ANN ops — biases and the
direct-coded input included — replaces each activation by integrate-and-fire neurons (reset by
subtraction, spikes carry θ), lets a max pool act on the cumulative sum of its input, and adds the
output's whole value to the accumulator. On networks whose sums are exact in float32 its spikes and
outputs must equal the engines' bit for bit; it is the second oracle for the static/dynamic split.
"""

from __future__ import annotations

import numpy as np

from eventsim.snn.coding import rate_spikes


def naive_if_run(net, x: np.ndarray, T: int, encoding: str = "direct", seed: int = 0) -> dict:
    """Outputs o(t) (N, T, classes) and spike counts per layer (name → (N,) + shape) of ``net``."""
    graph = net.graph
    n = len(x)
    spikes_in = rate_spikes(x, T, seed) if encoding == "rate" else None
    v = {
        node.name: np.broadcast_to(net.v0_array(node.name), (n,) + node.shape).copy()
        for node in graph.activation_nodes()
    }
    counts = {name: np.zeros((n,) + graph.node(name).shape, np.int64) for name in v}
    cumulative = {}  # max pools: the summed input so far, and its pooled value
    acc = np.zeros((n,) + graph.output_shape, np.float32)
    outputs = np.zeros((n, T, int(np.prod(graph.output_shape))), np.float32)
    for t in range(T):
        values = {}
        for node in graph.nodes:
            if node.op == "input":
                data = x if spikes_in is None else spikes_in[:, t].astype(np.float32)
                values[node.name] = node.spec.forward(node, [data])
            elif node.name in v:
                theta = net.threshold_array(node.name)
                m = v[node.name] + values[node.inputs[0]]
                spike = m >= theta
                v[node.name] = m - spike * theta
                counts[node.name] += spike
                values[node.name] = (spike * theta).astype(np.float32)
            elif node.op == "maxpool" and graph.node(node.inputs[0]).name in v:
                total, before = cumulative.get(
                    node.name, (0, node.spec.forward(node, [np.zeros_like(values[node.inputs[0]])]))
                )
                total = total + values[node.inputs[0]]
                pooled = node.spec.forward(node, [total])
                values[node.name] = pooled - before
                cumulative[node.name] = (total, pooled)
            else:
                values[node.name] = node.spec.forward(node, [values[i] for i in node.inputs]).astype(np.float32)
        acc = acc + values[graph.output]
        outputs[:, t] = acc.reshape(n, -1)
    return {"outputs": outputs, "counts": counts}
