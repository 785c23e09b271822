"""Losses on a spiking network's output over time, with their gradients.

The network's output o(t) accumulates as the engines accumulate it (``sum`` or ``temporal``
decoding, :meth:`eventsim.SpikingNetwork.output_weights`), and the engines predict argmax o(T). The
cross-entropy reads logits from it:

- ``sum``: o(T)/T, the mean output per step (with ``temporal`` decoding: the weighted sum over T);
- ``max``: the largest output of a single step, max_t (o(t) − o(t − 1)), per class;

so a loss ``temporal`` is ``sum`` on a network with temporal decoding, whose weights may be learned.
"""

from __future__ import annotations

import numpy as np

LOSSES = ("sum", "max")


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits`` (N, K) against labels ``y`` (N,), and its gradient."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -float(np.mean(np.log(np.maximum(p[np.arange(n), y], 1e-300))))
    p[np.arange(n), y] -= 1.0
    return loss, p / n


def output_loss(output: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, np.ndarray]:
    """The loss of o(t) (T, N, K) against labels, and dL/do(t) (T, N, K) float32.

    Parameters
    ----------
    output : numpy.ndarray
        o(t) for every step.
    y : numpy.ndarray
        Integer labels (N,).
    loss : {"sum", "max"}
        Which logits (module docstring).
    """
    steps = len(output)
    flat = output.reshape(steps, output.shape[1], -1)
    grad = np.zeros(flat.shape, np.float64)
    if loss == "sum":
        value, g = softmax_cross_entropy(flat[-1] / steps, y)
        grad[-1] = g / steps
    elif loss == "max":
        per_step = np.diff(flat, axis=0, prepend=np.zeros_like(flat[:1]))
        when = per_step.argmax(axis=0)  # (N, K): the step of each class's largest output
        value, g = softmax_cross_entropy(np.take_along_axis(per_step, when[None], 0)[0], y)
        step_grad = np.zeros_like(grad)
        np.put_along_axis(step_grad, when[None], g[None], 0)
        # o(t) − o(t − 1) reads o(t) with +1 and o(t − 1) with −1
        grad = step_grad - np.concatenate([step_grad[1:], np.zeros_like(step_grad[:1])])
    else:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    return value, grad.reshape(output.shape).astype(np.float32)


def predictions(output: np.ndarray) -> np.ndarray:
    """The engines' prediction, argmax o(T), per sample."""
    return output[-1].reshape(output.shape[1], -1).argmax(axis=1)
