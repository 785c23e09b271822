"""NumPy twins of the trainer's neuron kernels, plain and step by step: the dense reference's
forward and backward through a neuron layer, and what the tests hold the kernels to."""

from __future__ import annotations

import numpy as np

from ..snn.kinds.single_spike import SILENT
from .estimators import Estimator
from .membrane import ONCE, SUBTRACT
from .noise import entry_key


def leaky_steps(
    steps: int,
    batch: int,
    static: np.ndarray,
    current: np.ndarray | None,
    bias: np.ndarray | None,
    v0: np.ndarray,
    theta: np.ndarray,
    leak: np.float32,
    reset: int,
    smooth_width: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A layer of the leaky family over all steps (:mod:`.kernels.neurons` states the rule).

    Parameters
    ----------
    steps, batch : int
        T and N.
    static : numpy.ndarray
        Static input current (1 or N, n).
    current : numpy.ndarray or None
        Dynamic input current (T, N, n).
    bias : numpy.ndarray or None
        Temporal bias (T_b, n) for the first T_b steps.
    v0, theta : numpy.ndarray
        Initial membrane and threshold (n,).
    leak : numpy.float32
        β.
    reset : int
        The reset's code (:data:`eventsim.training.membrane.RESETS`).
    smooth_width : float, optional
        Fire the smooth S = σ(u/width) instead of the step (the finite-difference check). A
        single-spike neuron is silenced by its hard spike [u ≥ 0] (a stop-gradient mask).

    Returns
    -------
    values, u : numpy.ndarray
        θ·S and u = m − θ, (T, N, n) float32.
    """
    n = static.shape[1]
    v = np.broadcast_to(v0, (batch, n)).astype(np.float32)
    values = np.empty((steps, batch, n), np.float32)
    u_all = np.empty((steps, batch, n), np.float32)
    for t in range(steps):
        c = static + current[t] if current is not None else np.broadcast_to(static, (batch, n))
        if bias is not None and t < len(bias):
            c = c + bias[t]
        fired = v == SILENT
        m = v * leak + c
        u_all[t] = m - theta
        hard = (m >= theta) & ~(fired & (reset == ONCE))
        if smooth_width is None:
            s = hard.astype(np.float32)
        else:
            with np.errstate(over="ignore"):  # a silenced neuron's u: σ = 0 exactly
                s = (1.0 / (1.0 + np.exp(-(m - theta).astype(np.float64) / smooth_width))).astype(np.float32)
        values[t] = s * theta
        if reset == ONCE:
            v = np.where(hard | fired, SILENT, m).astype(np.float32)
        else:
            v = m - theta * s if reset == SUBTRACT else m - m * s
    return values, u_all


def entry_keys(seed: int, layer: int, shape: tuple[int, int, int]) -> np.ndarray:
    """The random-draw keys of every (t, b, j) entry of a layer, uint64 (T, N, n)."""
    t, b, j = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return entry_key(seed, layer, t, b, j)


def leaky_backward(
    grad_values: np.ndarray,
    values: np.ndarray,
    u: np.ndarray,
    theta: np.ndarray,
    leak: np.float32,
    reset: int,
    detach: bool,
    spike_grad: float,
    g: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The backward of :func:`leaky_steps` through time with dS/du replaced by ``g`` (T, N, n).

    Returns
    -------
    e, grad_v0 : numpy.ndarray
        dL/dI(t) (T, N, n) and dL/dv(0) (N, n), from dL/d(value) ``grad_values`` and a constant
        dL/dS ``spike_grad`` (:func:`.kernels.neurons.leaky_scan` states the recurrence).
    """
    steps = len(values)
    # a single-spike neuron's membrane is cut off by its hard spike, never differentiated
    s = (u >= 0).astype(np.float32) if reset == ONCE else values / theta
    detach = detach or reset == ONCE
    e = np.empty_like(grad_values, dtype=np.float32)
    carry = np.zeros(values.shape[1:], np.float32)
    for t in range(steps - 1, -1, -1):
        base = leak * carry
        if reset != SUBTRACT:
            base = base * (1 - s[t])
        row = base + (grad_values[t] * theta + np.float32(spike_grad)) * g[t]
        if not detach:
            amount = u[t] + theta if reset != SUBTRACT else theta
            row = row - leak * carry * amount * g[t]
        e[t] = carry = row.astype(np.float32)
    return e, leak * carry


def estimates(estimator: Estimator, u: np.ndarray, seed: int, layer: int) -> np.ndarray:
    """dS/du of every entry of a layer, (T, N, n) float32."""
    keys = entry_keys(seed, layer, u.shape) if estimator.stochastic else None
    return estimator.grad(u, keys)
