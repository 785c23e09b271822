"""Gradients of a neuron layer's own parameters — threshold θ, initial potential v0, temporal bias
β(t) — which fine-tuning a converted network may train beside the weights.

Per neuron, with S = H(u), u = m − θ, value = θ·S, the backward scan's e(t) = dL/dI(t):

- θ enters the value (dL/dθ += Σ_t dL/d(value)·S), the firing condition (dS/dθ = −G, so
  dL/dθ −= Σ_t dL/dS·G) and, when the reset is differentiated, the reset: v = m − θS gives
  ∂v/∂θ = −S + θG, v = m(1 − S) gives ∂v/∂θ = mG, each met by dL/dv(t) = β·e(t + 1);
- v0 is the membrane before step 1: dL/dv0 = β·e(1), which the scan returns;
- β(t) is a current of step t: dL/dβ(t) = e(t).

The gradients come per neuron and are summed to the parameter's shape (scalar, per channel, per
neuron; :func:`to_param_shape`).
"""

from __future__ import annotations

import numpy as np

from .membrane import SUBTRACT

#: The neuron parameters fine-tuning can train.
NEURON_PARAMS = ("threshold", "v0", "temporal_bias")


def to_param_shape(grad: np.ndarray, param: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-neuron gradients ``grad`` (..., n) of a layer of ``shape`` summed to the shape of
    ``param`` (its last axes: a scalar, one value per channel, or one per neuron)."""
    lead = grad.shape[:-1]
    per_channel = grad.reshape(lead + (shape[0], -1))
    rest = param.shape[len(lead) :]
    if rest == ():
        return per_channel.sum(axis=(-2, -1)).astype(np.float32)
    if rest == (shape[0],):
        return per_channel.sum(axis=-1).astype(np.float32)
    return grad.reshape(lead + tuple(shape)).astype(np.float32)


def _entries(trace) -> tuple[np.ndarray, ...]:
    """The sparse trace's active entries as flat arrays: sample, step, neuron, dS/du, u."""
    used = np.arange(trace.pos.shape[1])[None, :] < trace.counts[:, None]
    samples = np.nonzero(used)[0]
    pos = trace.pos[used]
    size = trace.theta.size
    return samples, pos // size, pos % size, trace.est[used], trace.us[used]


def neuron_param_grads(
    trace,
    values: np.ndarray,
    grad: np.ndarray,
    e: np.ndarray,
    grad_v0: np.ndarray,
    g: np.ndarray | None,
    detach: bool,
    spike_grad: float,
    wanted: tuple[str, ...],
    bias_steps: int,
) -> dict[str, np.ndarray]:
    """Per-neuron gradients of the layer's ``wanted`` parameters (module docstring).

    Parameters
    ----------
    trace : LayerTrace
    values, grad, e : numpy.ndarray
        θ·S, dL/d(value) and dL/dI, (T, N, n).
    grad_v0 : numpy.ndarray
        dL/dv0 per sample (N, n).
    g : numpy.ndarray or None
        dS/du of every entry (T, N, n); None: from the sparse trace's active entries.
    detach, spike_grad
        As in the backward.
    bias_steps : int
        Steps of the layer's temporal bias (0: none).
    """
    out: dict[str, np.ndarray] = {}
    if "v0" in wanted:
        out["v0"] = grad_v0.sum(axis=0)
    if "temporal_bias" in wanted and bias_steps:
        out["temporal_bias"] = e[:bias_steps].sum(axis=1)
    if "threshold" in wanted:
        out["threshold"] = _threshold_grad(trace, values, grad, e, g, detach, spike_grad)
    return out


def _threshold_grad(trace, values, grad, e, g, detach: bool, spike_grad: float) -> np.ndarray:
    theta, leak = trace.theta, trace.leak
    s = values / theta
    out = (grad * s).sum(axis=(0, 1), dtype=np.float64)
    later = np.zeros_like(e)  # dL/dv(t) = β·e(t + 1)
    later[:-1] = leak * e[1:]
    if not detach and trace.reset == SUBTRACT:
        out -= (later * s).sum(axis=(0, 1), dtype=np.float64)
    if g is not None:
        term = -(grad * theta + spike_grad) * g
        if not detach:
            term += later * ((trace.u + theta) if trace.reset != SUBTRACT else theta) * g
        return (out + term.sum(axis=(0, 1), dtype=np.float64)).astype(np.float32)
    samples, steps, neurons, est, us = _entries(trace)
    term = -(grad[steps, samples, neurons] * theta[neurons] + spike_grad) * est
    if not detach:
        reset = (us + theta[neurons]) if trace.reset != SUBTRACT else theta[neurons]
        term += later[steps, samples, neurons] * reset * est
    return (out + np.bincount(neurons, weights=term, minlength=theta.size)).astype(np.float32)
