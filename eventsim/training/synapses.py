"""The weighted ops (dense, conv) in the trainer: forward by events or by the dense product (as the
layer engine runs them), and the sparse backward's weight and input gradients.

Each method is exact, so the choice is only about time: the event kernels cost in proportion to
the non-zero inputs (weight gradient) or the positions that need a gradient (input gradient), the
products in proportion to all rows. Below a density of ``events_below`` the kernels win.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Node
from ..simulation.layer.linear import GraphLayout, LinearMethods
from .checks import check_linear_grad

#: Transient memory a dense product may take at once (the layer engine's parts).
WORK_BYTES = 64 << 20


def linear_methods(node: Node, in_shape: tuple[int, ...]) -> LinearMethods:
    """The layer engine's two methods for ``node`` with its current weights."""
    layout = GraphLayout({node.inputs[0]: tuple(in_shape), node.name: tuple(node.shape)}, {}, 1.0)
    return LinearMethods(node, in_shape, layout, WORK_BYTES)


def density(rows: np.ndarray) -> float:
    """Fraction of non-zero entries, from about 2,048 evenly spaced rows (it only picks a method, and
    counting every entry of a large input cost as much as a kernel)."""
    sample = rows[:: max(1, len(rows) // 2048)]
    return np.count_nonzero(sample) / max(sample.size, 1)


def linear_forward(
    node: Node, x: np.ndarray, in_shape: tuple[int, ...], events_below: float
) -> tuple[np.ndarray, float]:
    """The dynamic part of ``node`` over all steps, ``x`` (T, N) + input shape → (T, N) + shape, and
    the input's density."""
    steps, n = x.shape[:2]
    rows = np.ascontiguousarray(x, np.float32).reshape(steps * n, -1)
    methods = linear_methods(node, in_shape)
    share = density(rows)
    out = methods.events(rows) if share < events_below else methods.dense(rows)
    return out.reshape((steps, n) + tuple(node.shape)), share


def _weights_from_layout(grad: np.ndarray, node: Node, kernel: str) -> np.ndarray:
    """A gradient in the event lowering's weight layout as a gradient of ``W``."""
    if kernel == "dense":
        return np.ascontiguousarray(grad.T)
    c_out, c_g, kh, kw = node.params["W"].shape
    groups = node.attrs["groups"]
    grad = grad.reshape(groups, kh, kw, c_g, c_out // groups).transpose(0, 4, 3, 1, 2)
    return np.ascontiguousarray(grad.reshape(c_out, c_g, kh, kw))


def _dense_backward(methods: LinearMethods, rows: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both gradients by the op's own backward (BLAS), in parts of rows on all cores (each part with
    single-threaded BLAS, as the forward's products run: :mod:`eventsim.simulation.threads`)."""
    from ..simulation.threads import parallel_parts

    node, in_shape = methods.node, methods.in_shape
    grad_x = np.empty(rows.shape, np.float32)
    parts: list[np.ndarray] = []

    def part(lo: int, hi: int) -> None:
        (gx, *_), params = node.spec.backward(
            methods.bare, [rows[lo:hi].reshape((-1,) + in_shape)], g[lo:hi].reshape((-1,) + node.shape)
        )
        grad_x[lo:hi] = gx.reshape(hi - lo, -1)
        parts.append(params["W"])

    parallel_parts(part, len(rows), methods.rows_per_call)
    return grad_x, np.sum(parts, axis=0)


def sparse_linear_backward(
    node: Node,
    x: np.ndarray,
    grad: np.ndarray,
    mask: np.ndarray | None,
    events_below: float,
    x_density: float | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """The gradients of a dense or conv node's dynamic part over all steps.

    Parameters
    ----------
    node : Node
    x : numpy.ndarray
        Its dynamic input (T, N) + input shape.
    grad : numpy.ndarray
        dL/d(its dynamic output), (T, N) + shape.
    mask : numpy.ndarray or None
        Where the input gradient is needed, bool like ``x``; None: nowhere.
    events_below : float
        Density under which the event kernels run.
    x_density : float, optional
        The non-zero fraction of ``x``, if known (the forward measured it).

    Returns
    -------
    grad_x, grad_w
        The input gradient (exact where ``mask`` holds, zero or exact elsewhere; None without a
        mask) and the gradient of ``W``.
    """
    import numba

    from .kernels import synapses as k

    steps, n = x.shape[:2]
    in_shape = x.shape[2:]
    rows = np.ascontiguousarray(x, np.float32).reshape(steps * n, -1)
    g = np.ascontiguousarray(grad, np.float32).reshape(steps * n, -1)
    need = None if mask is None else np.ascontiguousarray(mask).reshape(steps * n, -1)
    methods = linear_methods(node, in_shape)
    check_linear_grad(rows, g, methods.weights, methods.geometry, need, methods.kernel)
    sparse_w = (density(rows) if x_density is None else x_density) < events_below
    sparse_x = need is None or density(need) < events_below
    dense = None
    if not (sparse_w and sparse_x):  # one product gives both gradients
        (gx, *_), params = node.spec.backward(
            methods.bare, [rows.reshape((-1,) + in_shape)], g.reshape((-1,) + node.shape)
        )
        dense = gx.reshape(rows.shape), params["W"]
    if sparse_w:
        parts = np.zeros((numba.get_num_threads(),) + methods.weights.shape, np.float32)
        if methods.kernel == "dense":
            k.dense_weight_grad(rows, g, parts)
        else:
            k.conv_weight_grad(rows, g, methods.geometry, parts)
        grad_w = _weights_from_layout(parts.sum(axis=0), node, methods.kernel)
    else:
        grad_w = dense[1]
    if need is None:
        return None, grad_w.astype(np.float32)
    if sparse_x:
        grad_x = np.empty(rows.shape, np.float32)
        if methods.kernel == "dense":
            k.dense_input_grad(g, methods.weights, need, grad_x)
        else:
            k.conv_input_grad(g, methods.weights, methods.geometry, need, grad_x)
    else:
        grad_x = dense[0]
    return grad_x.reshape(x.shape), grad_w.astype(np.float32)
