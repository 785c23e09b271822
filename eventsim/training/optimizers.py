"""Adam and SGD (with momentum) on named float32 arrays, with L2 weight decay; their state is plain
arrays so that a checkpoint stores it without pickling."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OPTIMIZERS = ("adam", "sgd")


@dataclass
class Optimizer:
    """One optimiser over parameters named by strings.

    Parameters
    ----------
    name : {"adam", "sgd"}
    lr : float
        Learning rate.
    weight_decay : float
        L2 decay: ``weight_decay · p`` is added to every gradient (PyTorch's convention).
    momentum : float
        SGD's momentum (0: plain SGD).
    betas : tuple of float
        Adam's decay rates of the first and second moments.
    eps : float
        Adam's denominator guard.
    """

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    step_count: int = 0
    state: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}; use one of {', '.join(OPTIMIZERS)}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"the learning rate must be a positive number, got {self.lr!r}")
        if not (np.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight decay must be ≥ 0, got {self.weight_decay!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update every array of ``params`` that has a gradient, in place."""
        self.step_count += 1
        for key, g in grads.items():
            p = params[key]
            g = g.astype(np.float64) + self.weight_decay * p
            if self.name == "sgd":
                if self.momentum:
                    buf = self.state.get(f"{key}/momentum")
                    buf = g if buf is None else self.momentum * buf + g
                    self.state[f"{key}/momentum"] = buf
                    g = buf
                p -= (self.lr * g).astype(p.dtype)
                continue
            m = self.betas[0] * self.state.get(f"{key}/m", 0.0) + (1 - self.betas[0]) * g
            v = self.betas[1] * self.state.get(f"{key}/v", 0.0) + (1 - self.betas[1]) * g * g
            self.state[f"{key}/m"], self.state[f"{key}/v"] = m, v
            m_hat = m / (1 - self.betas[0] ** self.step_count)
            v_hat = v / (1 - self.betas[1] ** self.step_count)
            p -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.dtype)

    def settings(self) -> dict:
        """The optimiser's settings as JSON-friendly values."""
        return {
            "name": self.name,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "betas": list(self.betas),
            "eps": self.eps,
            "step_count": self.step_count,
        }
