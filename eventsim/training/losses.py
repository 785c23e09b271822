"""Losses on a spiking network's output over time, with their gradients.

The network's output o(t) accumulates as the engines accumulate it (``sum`` or ``temporal``
decoding, :meth:`eventsim.SpikingNetwork.output_weights`), and the engines predict argmax o(T). The
losses read logits from it (:func:`decoded_logits`):

- ``sum``: o(T)/T, the mean output per step (with ``temporal`` decoding: the weighted sum over T);
- ``max``: the largest output of a single step, max_t (o(t) − o(t − 1)), per class;

so a loss ``temporal`` is ``sum`` on a network with temporal decoding, whose weights may be learned.
On those logits, the cross-entropy against labels, and (knowledge distillation) a soft-target loss
against a teacher's logits — for a converted network, the ANN's, on the same scale as o(T)/T — or a
mix of both (:func:`output_loss`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LOSSES = ("sum", "max")


def _softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64."""
    z = z.astype(np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits`` (N, K) against labels ``y`` (N,), and its gradient."""
    p = _softmax(logits)
    n = len(y)
    loss = -float(np.mean(np.log(np.maximum(p[np.arange(n), y], 1e-300))))
    p[np.arange(n), y] -= 1.0
    return loss, p / n


def soft_target_loss(logits: np.ndarray, teacher: np.ndarray, temperature: float) -> tuple[float, np.ndarray]:
    """Distillation loss of ``logits`` (N, K) against a teacher's logits (N, K), and its gradient.

    Hinton et al.'s soft-target loss: τ² · mean over samples of KL(q ‖ p), with q = softmax(teacher/τ)
    and p = softmax(logits/τ). The τ² keeps the gradient's scale, τ·(p − q)/N, comparable across
    temperatures; at τ = 1 it is the cross-entropy against the teacher's probabilities less their
    entropy (zero when the logits match the teacher's up to a constant per sample).

    Parameters
    ----------
    logits, teacher : numpy.ndarray
        The student's and the teacher's logits, (N, K).
    temperature : float
        τ > 0: a higher τ gives the teacher's ranking of the wrong classes more weight.
    """
    tau = float(temperature)
    q = _softmax(teacher / tau)
    z = logits.astype(np.float64) / tau
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_q = np.log(np.maximum(q, 1e-300))
    n = len(logits)
    loss = tau * tau * float(np.sum(q * (log_q - log_p))) / n
    return loss, tau * (np.exp(log_p) - q) / n


def decoded_logits(output: np.ndarray, loss: str) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The logits (N, K) a loss reads from o(t) (T, N, ...), and the map of dL/d(logits) to dL/do(t).

    Parameters
    ----------
    output : numpy.ndarray
        o(t) for every step.
    loss : {"sum", "max"}
        Which logits (module docstring).
    """
    steps, n = output.shape[:2]
    flat = output.reshape(steps, n, -1)
    if loss == "sum":

        def back(g: np.ndarray) -> np.ndarray:
            grad = np.zeros(flat.shape, np.float64)
            grad[-1] = g / steps
            return grad

        return flat[-1] / steps, back
    if loss == "max":
        per_step = np.diff(flat, axis=0, prepend=np.zeros_like(flat[:1]))
        when = per_step.argmax(axis=0)  # (N, K): the step of each class's largest output

        def back(g: np.ndarray) -> np.ndarray:
            step_grad = np.zeros(flat.shape, np.float64)
            np.put_along_axis(step_grad, when[None], g[None], 0)
            # o(t) − o(t − 1) reads o(t) with +1 and o(t − 1) with −1
            return step_grad - np.concatenate([step_grad[1:], np.zeros_like(step_grad[:1])])

        return np.take_along_axis(per_step, when[None], 0)[0], back
    raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")


def output_loss(
    output: np.ndarray,
    y: np.ndarray,
    loss: str,
    *,
    soft: np.ndarray | None = None,
    distill: float = 0.0,
    temperature: float = 1.0,
) -> tuple[float, np.ndarray]:
    """The loss of o(t) (T, N, K), and dL/do(t) (T, N, K) float32.

    (1 − distill) · cross-entropy against the labels + distill · :func:`soft_target_loss` against
    the teacher's logits, both on the same decoded logits.

    Parameters
    ----------
    output : numpy.ndarray
        o(t) for every step.
    y : numpy.ndarray
        Integer labels (N,); not read when ``distill`` is 1.
    loss : {"sum", "max"}
        Which logits (module docstring).
    soft : numpy.ndarray, optional
        The teacher's logits (N, K); needed when ``distill`` > 0.
    distill : float
        The soft-target loss's weight, in [0, 1].
    temperature : float
        The soft-target loss's temperature.
    """
    logits, back = decoded_logits(output, loss)
    value, grad = 0.0, np.zeros(logits.shape, np.float64)
    if distill < 1:
        ce, g = softmax_cross_entropy(logits, y)
        value, grad = value + (1 - distill) * ce, grad + (1 - distill) * g
    if distill > 0:
        if soft is None:
            raise ValueError("a distillation loss needs the teacher's logits (soft)")
        kd, g = soft_target_loss(logits, np.asarray(soft).reshape(logits.shape), temperature)
        value, grad = value + distill * kd, grad + distill * g
    return value, back(grad).reshape(output.shape).astype(np.float32)


def predictions(output: np.ndarray) -> np.ndarray:
    """The engines' prediction, argmax o(T), per sample."""
    return output[-1].reshape(output.shape[1], -1).argmax(axis=1)
