"""FTBC (Wu, Bojković, Gu, Suo and Zou, ECCV 2024): forward temporal bias correction.

Per layer, channel and step a bias b[t] that drives the SNN's mean error toward zero, calibrated
forward only, layer by layer from the input, as in the authors' code (``bias_corr_step_by_step``;
docs/methods.md, "FTBC"). The bias is subtracted from the membrane, so the network's temporal bias
current is β(t) = −b[t].
"""

from __future__ import annotations

import numpy as np

from ..ir.executor import run_ann
from ..progress import Progress, Tracker
from ..snn.network import SpikingNetwork
from .currents import calibrate_layers
from .opi import channel_mean, layer_weights


def _calibrate_layer(net: SpikingNetwork, name: str, currents, target, bias, alpha: float, T: int) -> None:
    """One batch's corrections of layer ``name``'s bias (T, C), in place (docstring of
    :func:`calibrate_ftbc`); the trajectory uses the layer's own rule."""
    node = net.graph.node(name)
    errors = layer_errors(net, name, currents, target, T)
    for t in range(T):
        bias[t] += np.float32(alpha) * channel_mean(errors[t], node, True)


def layer_errors(net: SpikingNetwork, name: str, currents, target, T: int) -> np.ndarray:
    """FTBC's errors e(t) of layer ``name`` on its corrected trajectory, (T, N) + shape, by the
    compiled loop (:func:`.kernels.ftbc_errors`; :func:`errors_stepwise` is its NumPy twin)."""
    from ..simulation.event.kinds import kind_code
    from .kernels import check_ftbc_errors, ftbc_errors

    node = net.graph.node(name)
    size, n = int(np.prod(node.shape)), len(target)
    arrays = (
        np.ascontiguousarray(currents, np.float32).reshape(T, n, size),
        np.ascontiguousarray(target, np.float32).reshape(n, size),
        np.ascontiguousarray(np.broadcast_to(net.threshold_array(name), node.shape), np.float32).reshape(size),
        np.ascontiguousarray(net.phases(T)[net.layer_names.index(name)], np.float32),
        np.ascontiguousarray(np.broadcast_to(net.v0_array(name), node.shape), np.float32).reshape(size),
        np.empty((T, n, size), np.float32),
    )
    check_ftbc_errors(*arrays)
    ftbc_errors(kind_code(net.layers[name].kind), *arrays)
    return arrays[-1].reshape((T, n) + tuple(node.shape))


def errors_stepwise(net: SpikingNetwork, name: str, currents, target, T: int) -> np.ndarray:
    """:func:`layer_errors` in NumPy, step by step with the kind's rule (the kernel's twin)."""
    layer, theta = net.layers[name], net.threshold_array(name)
    phases = net.phases(T)[net.layer_names.index(name)]
    zero = np.float32(0)
    v = np.broadcast_to(net.v0_array(name), currents.shape[1:]).astype(np.float32)
    memory = np.zeros_like(v)
    errors = np.empty(currents.shape, np.float32)
    for t in range(T):
        m = v + currents[t]
        _, spike, kept = layer.spec.step(v, currents[t], theta, phases[t], memory)
        errors[t] = theta * spike - target
        # continue on the corrected trajectory m − e (a kind's memory follows the spiking step)
        v, _, _ = layer.spec.step(m - errors[t], zero, theta, phases[t], memory)
        memory = kept
    return errors


def _settle_batch(net: SpikingNetwork, acts: dict, bias: dict, alpha: float, T: int, tracker: Tracker, label: str):
    """What one batch does to each layer as it reaches it: correct the layer's biases on its
    currents (:func:`_calibrate_layer`) and set them, so the layer fires with them."""

    def settle(name: str, currents: np.ndarray) -> None:
        _calibrate_layer(net, name, currents, acts[name], bias[name], alpha, T)
        net.layers[name].temporal_bias = -bias[name]
        tracker.step(f"{label}, layer {name}")

    return settle


def calibrate_ftbc(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    alpha: float = 0.4,
    batches: int = 3,
    batch_size: int = 200,
    seed: int = 0,
    progress: Progress = None,
) -> None:
    """FTBC: per channel and step, temporal biases that drive the SNN's error toward zero.

    For each calibration batch and each layer from the input (layers before already corrected in
    this batch), with the layer's input currents Z(t) and ANN activation a, from v = v0:
    ``m = v + Z(t); e = θ·H(m − θ) − a; b[t] += α · mean_{batch, positions}(e);
    m' = m − e; v = m' − θ·H(m' − θ)``. As in the authors' code, the error of a batch does not
    include the layer's own bias from earlier batches. Each batch runs once, layer by layer
    (:func:`~.currents.calibrate_layers`). Modifies ``net`` in place; the network records the T it
    was calibrated for.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    chunks = [order[i * batch_size : (i + 1) * batch_size] for i in range(batches)]
    chunks = [c for c in chunks if len(c)]
    nodes = net.graph.activation_nodes()
    bias = {n.name: np.zeros((T, n.shape[0]), np.float32) for n in nodes}
    tracker = Tracker(progress, "FTBC", layer_weights(net) * len(chunks))
    for k, chunk in enumerate(chunks):
        xb = x[np.sort(chunk)]
        _, acts = run_ann(net.graph, xb, record=True)
        label = f"batch {k + 1}/{len(chunks)} of {len(chunk)} samples, T={T}"
        calibrate_layers(net, xb, T, _settle_batch(net, acts, bias, alpha, T, tracker, label))
    net.meta["ftbc_calibration"] = {
        "T": T,
        "alpha": alpha,
        "batches": len(chunks),
        "batch_size": batch_size,
        "seed": seed,
    }
