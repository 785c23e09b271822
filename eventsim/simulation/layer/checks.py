"""Checks of what the layer engine's kernels index, made before a kernel sees the arrays: a bad
index inside a Numba kernel is a crash, not an exception."""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise UnsupportedError(f"layer engine: inconsistent {what} (a bug in eventsim; please report it)")


def check_conv(geo: np.ndarray, weights: np.ndarray, inputs: int, outputs: int) -> None:
    """Geometry row, weight rows and sizes of a convolution agree; every quantity is positive."""
    c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pt, pl, dh, dw, groups = (int(v) for v in geo[:15])
    _require(min(c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, dh, dw, groups) >= 1, "conv geometry")
    _require(pt >= 0 and pl >= 0 and c_in % groups == 0 and c_out % groups == 0, "conv padding or groups")
    _require(inputs == c_in * h_in * w_in and outputs == c_out * h_out * w_out, "conv sizes")
    _require(weights.shape == (groups * kh * kw * (c_in // groups), c_out // groups), "conv weights")
    _require(weights.dtype == np.float32 and weights.flags.c_contiguous, "conv weight layout")


def check_dense(geo: np.ndarray, weights: np.ndarray, inputs: int, outputs: int) -> None:
    """The weights are (inputs, outputs), float32, contiguous."""
    _require(weights.shape == (inputs, outputs), "dense weights")
    _require(weights.dtype == np.float32 and weights.flags.c_contiguous, "dense weight layout")


def check_rows(rows: np.ndarray, width: int) -> None:
    """Rows fed to a kernel are float32, C-contiguous and ``width`` wide."""
    _require(rows.ndim == 2 and rows.shape[1] == width, "row width")
    _require(rows.dtype == np.float32 and rows.flags.c_contiguous, "row layout")


def check_maxpool(geo: np.ndarray, x: np.ndarray, cumulative: np.ndarray, previous: np.ndarray) -> None:
    """The pool's geometry matches its input chunk and its state, and every window stays in range."""
    c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pt, pl, dh, dw = (int(v) for v in geo[:14])
    _require(min(c_in, h_in, w_in, h_out, w_out, kh, kw, sh, sw, dh, dw) >= 1 and c_in == c_out, "pool geometry")
    _require(pt >= 0 and pl >= 0, "pool padding")
    n = x.shape[1]
    _require(x.ndim == 3 and x.shape[2] == c_in * h_in * w_in and x.flags.c_contiguous, "pool input")
    _require(cumulative.shape == (n, c_in * h_in * w_in) and previous.shape == (n, c_in * h_out * w_out), "pool state")
    for array in (x, cumulative, previous):
        _require(array.dtype == np.float32 and array.flags.c_contiguous, "pool array layout")


def check_neurons(static, current, bias, theta, phases, v, memory, values, counts, neuron_counts, block: int) -> None:
    """Every array the neuron kernel indexes has the chunk's (steps, samples, size)."""
    steps, n, size = values.shape
    _require(block >= 1 and counts.shape == (steps, n, -(-size // block)), "neuron counts")
    _require(static.ndim == 2 and static.shape[1] == size and static.shape[0] in (1, n), "static current")
    _require(current.shape in ((0, 0, 0), (steps, n, size)), "dynamic current")
    _require(bias.shape in ((0, 0), (steps, size)), "temporal bias")
    _require(theta.shape == (size,) and phases.shape == (steps,), "thresholds or phases")
    _require(v.shape == memory.shape == neuron_counts.shape == (n, size), "membranes, memories or spike counts")
    for array in (static, current, bias, theta, phases, v, memory, values):
        _require(array.dtype == np.float32 and array.flags.c_contiguous, "neuron array layout")
    _require(counts.dtype == np.int64 and neuron_counts.dtype == np.int64, "neuron count types")
