"""OPI (Bu, Ding, Yu and Huang, AAAI 2022): initial membrane potentials that minimise the rate error.

Thresholds come from the clip bound or from data; the initial potential is θ/2 (the optimum when
z/θ is uniform) or, optimised here, per layer or channel the v0 ∈ [0, θ] with the least squared
rate error at the target T on calibration data (docs/methods.md, "OPI").
"""

from __future__ import annotations

import numpy as np

from ..ir.executor import run_ann
from ..ir.graph import Node
from ..progress import Progress, Tracker
from ..snn.network import SpikingNetwork, per_neuron
from .currents import calibrate_layers
from .thresholds import channel_axes


def layer_weights(net: SpikingNetwork) -> list[int]:
    """The expected cost of calibrating each neuron layer in the order a layer-by-layer pass reaches
    them (for progress): its neurons."""
    return [max(1, int(np.prod(node.shape))) for node in net.graph.activation_nodes()]


def channel_mean(values: np.ndarray, node: Node, per_channel: bool) -> np.ndarray:
    """Mean over samples and positions, per channel (C,) or for the whole layer ()."""
    return values.mean(axis=channel_axes(node)) if per_channel else np.asarray(values.mean())


#: Memory of one part of the candidates' spike counts, bytes.
GRID_PART_BYTES = 256 * 2**20


def _rate_errors(net: SpikingNetwork, node: Node, currents, target, fractions, T: int, per_channel: bool):
    """Mean squared error of the rate θ·N_T/T against the ANN activation, for v0 = f·θ per fraction
    f, simulated with the layer's own rule on its recorded input currents: (fractions,) or (fractions, C)."""
    theta = net.threshold_array(node.name)
    per_fraction = 4 * int(np.prod(currents.shape[1:]))
    step = max(1, GRID_PART_BYTES // per_fraction)
    errors = []
    for lo in range(0, len(fractions), step):
        counts = layer_counts(net, node.name, currents, fractions[lo : lo + step], T)
        errors += [channel_mean((theta * count / T - target) ** 2, node, per_channel) for count in counts]
        del counts  # one part at a time: freed before the next is made
    return np.stack(errors)


def layer_counts(net: SpikingNetwork, name: str, currents, fractions, T: int) -> np.ndarray:
    """Spikes of every neuron of layer ``name`` over the T steps of ``currents`` from v0 = f·θ for
    each fraction f, (F, N) + shape float32, by the compiled loop (:func:`.kernels.grid_counts`; its
    NumPy twin is :func:`counts_stepwise`)."""
    from ..simulation.event.kinds import kind_code
    from .kernels import check_grid_counts, grid_counts

    node = net.graph.node(name)
    size, n = int(np.prod(node.shape)), currents.shape[1]
    fractions = np.ascontiguousarray(fractions, np.float32).reshape(-1)
    arrays = (
        np.ascontiguousarray(currents, np.float32).reshape(T, n, size),
        np.ascontiguousarray(np.broadcast_to(net.threshold_array(name), node.shape), np.float32).reshape(size),
        np.ascontiguousarray(net.phases(T)[net.layer_names.index(name)], np.float32),
        fractions,
        np.empty((len(fractions), n, size), np.float32),
    )
    check_grid_counts(*arrays)
    grid_counts(kind_code(net.layers[name].kind), *arrays)
    return arrays[-1].reshape((len(fractions), n) + tuple(node.shape))


def counts_stepwise(net: SpikingNetwork, name: str, currents, fraction, T: int) -> np.ndarray:
    """:func:`layer_counts` for one fraction in NumPy, step by step with the kind's rule (the
    kernel's twin)."""
    layer, theta = net.layers[name], net.threshold_array(name)
    phases = net.phases(T)[net.layer_names.index(name)]
    v = np.broadcast_to(np.float32(fraction) * theta, currents.shape[1:]).astype(np.float32)
    count = np.zeros(currents.shape[1:], np.float32)
    memory = np.zeros_like(v)
    for t in range(T):
        v, spike, memory = layer.spec.step(v, currents[t], theta, phases[t], memory)
        count += spike
    return count


def optimize_v0(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    per_channel: bool = False,
    grid: int = 65,
    progress: Progress = None,
) -> None:
    """OPI: set each layer's v0 to the value in [0, θ] with the least squared rate error at T.

    Layer by layer from the input, each with the layers before it already set, in one pass
    (:func:`~.currents.calibrate_layers`): the layer's input currents over T steps are recorded,
    every candidate v0 on a grid of ``grid`` points is simulated on them, and the candidate with
    the least mean squared difference between the rate θ·N_T/T and the ANN activation wins (ties:
    the one nearest θ/2, the optimum under the uniform
    assumption). Modifies ``net`` in place.
    """
    _, acts = run_ann(net.graph, x, record=True)
    fractions = np.linspace(0.0, 1.0, grid, dtype=np.float32)
    tracker = Tracker(progress, "OPI v0", layer_weights(net))

    def settle(name: str, currents: np.ndarray) -> None:
        node, layer = net.graph.node(name), net.layers[name]
        errors = _rate_errors(net, node, currents, acts[name], fractions, T, per_channel)
        best = np.min(errors, axis=0)
        # among the minimisers, the one closest to θ/2
        distance = np.abs(fractions - 0.5).reshape((-1,) + (1,) * (errors.ndim - 1))
        fraction = fractions[np.argmin(np.where(errors <= best, distance, np.inf), axis=0)]
        if per_channel:
            channels = per_neuron(layer.threshold, node.shape).reshape(node.shape[0], -1)[:, 0]
            layer.v0 = (fraction * channels).astype(np.float32)
        else:
            layer.v0 = (np.float32(fraction) * layer.threshold).astype(np.float32)
        tracker.step(f"layer {name} ({len(x)} samples, T={T})")

    calibrate_layers(net, x, T, settle)
