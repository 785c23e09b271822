"""Checks of what the trainer's kernels index, made before a kernel sees the arrays: a bad index in a
Numba kernel is a crash, not an exception."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise UnsupportedError(f"trainer: inconsistent {what} (a bug in eventsim; please report it)")


def _layout(*arrays: np.ndarray, dtype=np.float32) -> bool:
    return all(a.dtype == dtype and a.flags.c_contiguous for a in arrays)


def check_leaky_forward(static, current, bias, v0, theta, values, active, pos, est, us, counts) -> None:
    """Every array :func:`.kernels.neurons.leaky_forward` indexes has the layer's (T, N, n)."""
    steps, n, size = values.shape
    _require(static.ndim == 2 and static.shape[1] == size and static.shape[0] in (1, n), "static current")
    _require(current.shape in ((0, 0, 0), (steps, n, size)), "dynamic current")
    _require(bias.ndim == 2 and (bias.shape == (0, 0) or (bias.shape[1] == size and bias.shape[0] <= steps)), "bias")
    _require(v0.shape == (size,) and theta.shape == (size,), "thresholds or initial potentials")
    _require(active.shape == values.shape and active.dtype == np.bool_, "active mask")
    _require(pos.shape == est.shape == us.shape and pos.shape[0] == n and counts.shape == (n,), "active entries")
    _require(_layout(static, current, bias, v0, theta, values, est, us), "neuron array layout")
    _require(_layout(pos, counts, dtype=np.int64), "entry index layout")


def check_leaky_scan(grad_values, values, theta, pos, est, us, counts, e, grad_v0) -> None:
    """The scan's arrays agree with the layer's (T, N, n), and every recorded position lies inside it."""
    steps, n, size = values.shape
    _require(grad_values.shape == values.shape == e.shape and theta.shape == (size,), "scan shapes")
    _require(grad_v0.shape == (n, size), "initial potential gradient")
    _require(pos.shape == est.shape == us.shape and pos.shape[0] == n and counts.shape == (n,), "active entries")
    _require(bool(np.all((counts >= 0) & (counts <= pos.shape[1]))), "active counts")
    for b in np.flatnonzero(counts):  # the recorded positions of each sample lie inside the layer
        used = pos[b, : counts[b]]
        _require(0 <= used.min() and used.max() < steps * size, "active positions")
    _require(_layout(grad_values, values, theta, est, us, e, grad_v0), "scan array layout")
    _require(_layout(pos, counts, dtype=np.int64), "entry index layout")


def check_linear_grad(x, g, weights, geo, mask, kernel: str) -> None:
    """Rows, output gradient, weights and mask of a dense or conv node agree."""
    rows, n_in = x.shape
    _require(g.ndim == 2 and g.shape[0] == rows, "gradient rows")
    _require(mask is None or (mask.shape == x.shape and mask.dtype == np.bool_ and mask.flags.c_contiguous), "mask")
    _require(_layout(x, g, weights), "gradient array layout")
    if kernel == "dense":
        _require(weights.shape == (n_in, g.shape[1]), "dense weights")
    else:
        c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pt, pl, dh, dw, groups = (int(v) for v in geo[:15])
        _require(min(c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, dh, dw, groups) >= 1, "conv geometry")
        _require(pt >= 0 and pl >= 0 and c_in % groups == 0 and c_out % groups == 0, "conv padding or groups")
        _require(n_in == c_in * h_in * w_in and g.shape[1] == c_out * h_out * w_out, "conv sizes")
        _require(weights.shape == (groups * kh * kw * (c_in // groups), c_out // groups), "conv weights")
