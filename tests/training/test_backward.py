"""The trainer's backward passes against independent oracles:

- the BPTT machinery against central finite differences of the loss, with a smooth forward
  (S = σ(u/w)) and its exact derivative as the estimator and the reset differentiated, on random
  networks of every op and both leaky kinds;
- the sparse Numba pass against the dense NumPy pass on the same estimator draws;
- the neuron and synapse kernels against their NumPy twins and the ops' own backward.
"""

from __future__ import annotations

import numpy as np
import pytest
from checks import kink_near_zero
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_builders import random_networks

from eventsim import Graph
from eventsim.snn.network import NeuronLayer, SpikingNetwork
from eventsim.training.backward import backward, spike_count_penalty
from eventsim.training.estimators import localzo, surrogate
from eventsim.training.forward import forward
from eventsim.training.losses import output_loss
from eventsim.training.neuron_grads import NEURON_PARAMS
from eventsim.training.prepare import training_network
from eventsim.training.trainer import trainable


def leaky(net: SpikingNetwork, rng: np.random.Generator, single_spike: bool = False) -> SpikingNetwork:
    """The network with every layer IF or LIF (random leak and reset), or with ``single_spike`` also
    single-spike, thresholds as they were."""
    layers = {}
    for name, layer in net.layers.items():
        kind = rng.choice(["if", "lif", "single_spike"] if single_spike else ["if", "lif"])
        if kind in ("if", "single_spike"):
            layers[name] = NeuronLayer(layer.threshold, layer.v0, str(kind))
        else:
            leak = float(rng.choice([0.5, 0.75, 0.875, 1.0]))
            reset = str(rng.choice(["subtract", "zero"]))
            layers[name] = NeuronLayer(layer.threshold, layer.v0, "lif", leak=leak, reset=reset)
    return SpikingNetwork(net.graph, layers, decoding=net.decoding)


def without_max_pooling(net: SpikingNetwork) -> SpikingNetwork:
    """The network with average pools where it had max pools: a max is not differentiable where two
    inputs tie, which spike counts often do, so finite differences cannot check it in a network
    (the op test checks the spiking max pool's backward on its own, away from ties)."""
    nodes = []
    for node in net.graph.nodes:
        if node.op == "maxpool":
            node = node.copy(op="avgpool", attrs=dict(node.attrs, count_include_pad=True))
        nodes.append(node)
    return SpikingNetwork(Graph(nodes, net.graph.output), net.layers, decoding=net.decoding)


def loss_of(net, x, y, T, estimator, loss="sum", penalty=0.0, **kwargs):
    """The loss the trainer minimises: cross-entropy of the output and a spike-count penalty."""
    tape = forward(net, x, T, estimator, sparse=False, **kwargs)
    return output_loss(tape.output, y, loss)[0] + spike_count_penalty(tape, penalty)[0]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    case=random_networks(),
    seed=st.integers(0, 2**16),
    encoding=st.sampled_from(["direct", "rate", "ttfs", "latency"]),
    loss=st.sampled_from(["sum", "max"]),
    temporal=st.booleans(),
)
def test_bptt_matches_finite_differences_with_a_smooth_forward(case, seed, encoding, loss, temporal):
    """With S = σ(u/w) in the forward and dS/du = σ'(u/w)/w in the backward, BPTT is the exact
    gradient (max pools replaced by average pools: :func:`without_max_pooling`): every weighted
    node's W and b gradient, every layer's threshold, initial potential and temporal bias gradient,
    and the temporal decoding weights', agree with central differences
    along random directions, for both losses with a spike-count penalty (float32 forward:
    Richardson-extrapolated steps of 2e-3 and 4e-3 along a unit direction, 3 % tolerance)."""
    net, x = case
    rng = np.random.default_rng(seed)
    net = training_network(leaky(without_max_pooling(net), rng))
    T, estimator, penalty = 4, surrogate("sigmoid", width=0.5), 0.05
    if temporal:
        net.decoding, net.decode_weights = "temporal", rng.uniform(0.5, 1.5, T).astype(np.float32)
    for name, layer in net.layers.items():  # a temporal bias for the first steps, per layer or channel
        channels = net.graph.node(name).shape[0]
        layer.temporal_bias = rng.normal(0, 0.1, (3,) if rng.random() < 0.5 else (3, channels)).astype(np.float32)
    # off the binary grid, so that no two values tie (a max is not differentiable at a tie)
    x = np.clip(x + rng.uniform(0, 0.05, x.shape), 0, 1).astype(np.float32)
    params = trainable(net)
    for p in params.values():
        p += rng.normal(0, 0.02, p.shape).astype(np.float32)
    classes = int(np.prod(net.graph.output_shape))
    y = rng.integers(0, classes, len(x))
    tape = forward(net, x, T, estimator, sparse=False, encoding=encoding)
    _, grad_out = output_loss(tape.output, y, loss)
    penalties = spike_count_penalty(tape, penalty)[1]
    grads = backward(tape, grad_out, estimator, detach_reset=False, spike_grads=penalties, neuron_params=NEURON_PARAMS)
    analytic_grads = {f"{node}/{name}": g for (node, name), g in grads.params.items()}
    assert set(grads.layers) == set(net.layers)
    for name, own in grads.layers.items():  # thresholds, initial potentials, temporal biases
        for key, g in own.items():
            params[f"layer/{name}/{key}"] = getattr(net.layers[name], key)
            analytic_grads[f"layer/{name}/{key}"] = g
    if temporal:
        params["decode_weights"] = net.decode_weights
        analytic_grads["decode_weights"] = grads.decode_weights
    checked = 0
    for key, p in params.items():
        g = analytic_grads.get(key, np.zeros_like(p)).astype(np.float64)
        d = rng.normal(size=p.shape)
        d /= np.linalg.norm(d)
        original = p.copy()

        def at(eps):
            p[...] = original + eps * d
            value = loss_of(net, x, y, T, estimator, loss, penalty, encoding=encoding)
            p[...] = original
            return value

        def difference(eps):
            return (at(eps) - at(-eps)) / (2 * eps)

        small, large = difference(2e-3), difference(4e-3)
        if loss == "max" and kink_near_zero(at, small, large):
            continue  # a class's largest step changes within the steps: the max is not smooth here
        numeric = (4 * small - large) / 3  # Richardson: the O(eps²) curvature terms cancel
        analytic = float((g * d).sum())
        # a direction almost orthogonal to the gradient has a derivative below the float32 forward's
        # noise floor, which grows with the gradient's size (seen: 5.8e-5 against 2.8e-4, with
        # |g| ≈ 0.8 and other directions agreeing to 0.2 %): a thousandth of |g| absorbs it
        floor = 2e-4 + 1e-3 * float(np.linalg.norm(g))
        assert abs(numeric - analytic) <= 0.03 * max(abs(numeric), abs(analytic)) + floor, (key, numeric, analytic)
        checked += 1
    assert checked > 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    case=random_networks(),
    seed=st.integers(0, 2**16),
    encoding=st.sampled_from(["direct", "rate", "latency"]),
    detach=st.booleans(),
    estimator=st.sampled_from(
        [
            localzo(0.5, 2, "normal", 7),
            localzo(0.3, 1, "uniform", 3),
            surrogate("triangle", 0.6),
            surrogate("fast_sigmoid", 0.4),  # nowhere zero: the sparse pass keeps the dense trace
            localzo(0.4, 1, "laplace", 5),
        ]
    ),
)
def test_sparse_backward_equals_dense_backward(case, seed, encoding, detach, estimator):
    """The same forward, the same draws: the sparse pass gives the dense pass's gradients (IF, LIF
    and single-spike layers)."""
    net, x = case
    rng = np.random.default_rng(seed)
    net = training_network(leaky(net, rng, single_spike=True))
    for name, layer in net.layers.items():
        layer.temporal_bias = rng.normal(0, 0.1, (3, net.graph.node(name).shape[0])).astype(np.float32)
    T = 6
    y = rng.integers(0, int(np.prod(net.graph.output_shape)), len(x))
    tapes = [forward(net, x, T, estimator, sparse=s, encoding=encoding, noise_seed=seed) for s in (False, True)]
    for name in net.layers:  # the same forward: values to the bit
        np.testing.assert_array_equal(tapes[0].values[name], tapes[1].values[name])
    np.testing.assert_array_equal(tapes[0].output, tapes[1].output)
    grads = []
    for tape in tapes:
        _, grad_out = output_loss(tape.output, y, "sum")
        penalties = {n: 0.01 for n in net.layers}
        grads.append(
            backward(tape, grad_out, estimator, detach_reset=detach, spike_grads=penalties, neuron_params=NEURON_PARAMS)
        )
    dense, sparse = grads
    assert dense.params.keys() == sparse.params.keys()
    assert dense.active == sparse.active
    for key in dense.params:
        scale = max(1e-6, float(np.abs(dense.params[key]).max()))
        np.testing.assert_allclose(
            sparse.params[key], dense.params[key], rtol=1e-4, atol=1e-5 * scale, err_msg=str(key)
        )
    for name, own in dense.layers.items():
        for key, value in own.items():
            scale = max(1e-6, float(np.abs(value).max()))
            np.testing.assert_allclose(
                sparse.layers[name][key], value, rtol=1e-4, atol=1e-5 * scale, err_msg=name + key
            )


@pytest.mark.parametrize("reset", ["subtract", "zero", "once"])
@pytest.mark.parametrize("detach", [False, True])
def test_scan_kernel_matches_its_twin(reset, detach):
    """The Numba scan over the recorded active entries equals the dense NumPy scan, for every reset
    (single-spike neurons' "once" included)."""
    from eventsim.training.kernels.neurons import leaky_forward, leaky_scan
    from eventsim.training.membrane import RESETS
    from eventsim.training.twins import estimates, leaky_backward, leaky_steps

    reset = RESETS[reset]
    rng = np.random.default_rng(5)
    T, n, size = 12, 3, 17
    static = rng.normal(0.2, 0.3, (n, size)).astype(np.float32)
    current = rng.normal(0, 0.5, (T, n, size)).astype(np.float32)
    bias = rng.normal(0, 0.1, (4, size)).astype(np.float32)
    v0, theta = np.full(size, 0.1, np.float32), rng.uniform(0.5, 1.5, size).astype(np.float32)
    leak = np.float32(0.8)
    est = localzo(0.4, 3, "laplace", 11)
    values = np.empty((T, n, size), np.float32)
    active = np.empty((T, n, size), bool)
    room = T * size
    pos, g_rec, u_rec = np.empty((n, room), np.int64), np.empty((n, room), np.float32), np.empty((n, room), np.float32)
    counts = np.empty(n, np.int64)
    leaky_forward(
        static, current, bias, v0, theta, leak, reset, est.code, est.params(), est.band(), 9, 2, values, active,
        pos, g_rec, u_rec, counts,
    )  # fmt: skip
    twin_values, u = leaky_steps(T, n, static, current, bias, v0, theta, leak, reset)
    np.testing.assert_array_equal(values, twin_values)
    g = estimates(est, u, 9, 2)
    np.testing.assert_array_equal(active, g != 0)
    assert counts.sum() == np.count_nonzero(g)
    grad_values = rng.normal(size=(T, n, size)).astype(np.float32)
    e, gv0 = np.empty_like(values), np.empty((n, size), np.float32)
    leaky_scan(grad_values, values, theta, leak, reset, detach, np.float32(0.05), pos, g_rec, u_rec, counts, e, gv0)
    e_twin, gv0_twin = leaky_backward(grad_values, values, u, theta, leak, reset, detach, 0.05, g)
    np.testing.assert_allclose(e, e_twin, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gv0, gv0_twin, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["dense", "conv"])
def test_synapse_kernels_match_the_op_backward(op):
    """Weight gradient from the input events only and input gradient only under the mask: the ops'
    own (dense, finite-difference-checked) backward where the mask holds."""
    from eventsim.ir.graph import Node
    from eventsim.training.synapses import sparse_linear_backward

    rng = np.random.default_rng(2)
    if op == "dense":
        node = Node("n", "dense", ("x",), {}, {"W": rng.normal(size=(7, 11)), "b": np.zeros(7)})
        in_shape = (11,)
    else:
        attrs = {"stride": (2, 1), "pads": (1, 0, 1, 2), "dilation": (1, 2), "groups": 2}
        node = Node("n", "conv", ("x",), attrs, {"W": rng.normal(size=(4, 2, 3, 2)), "b": np.zeros(4)})
        in_shape = (4, 6, 7)
    node.shape = node.spec.infer_shape(node, [in_shape])
    x = (rng.random((5, 3) + in_shape) < 0.05).astype(np.float32) * 0.75
    grad = rng.normal(size=(5, 3) + node.shape).astype(np.float32)
    mask = rng.random(x.shape) < 0.05
    (gx_ref,), params = node.spec.spike_backward(node, [x], grad)
    gx, gw = sparse_linear_backward(node, x, grad, mask, events_below=1.0)
    np.testing.assert_allclose(gw, params["W"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx[mask], gx_ref[mask], rtol=1e-5, atol=1e-5)
    assert not np.any(gx[~mask])
    gx_dense, gw_dense = sparse_linear_backward(node, x, grad, mask, events_below=0.0)  # the products
    np.testing.assert_allclose(gw_dense, params["W"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx_dense, gx_ref, rtol=1e-5, atol=1e-5)
