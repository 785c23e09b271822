"""Sliding-window arithmetic shared by convolution and pooling (ONNX/PyTorch conventions)."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def window_output_size(
    size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Number of window positions along one spatial axis.

    With ``ceil_mode`` a last, partial window is kept unless it would start inside the end padding
    (the rule of PyTorch and onnxruntime).
    """
    extent = dilation * (kernel - 1) + 1
    span = size + pad_begin + pad_end - extent
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def windows_without_data(size: int, kernel: int, stride: int, pad_begin: int, dilation: int, out: int) -> int:
    """How many of the ``out`` windows along one axis have every tap in the padding."""
    starts = np.arange(out)[:, None] * stride - pad_begin
    taps = starts + np.arange(kernel)[None, :] * dilation
    return int(np.sum(~np.any((taps >= 0) & (taps < size), axis=1)))


def spatial_output_shape(
    hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> tuple[int, int]:
    """Output (H, W) of a window op; ``pads`` are (top, left, bottom, right)."""
    return (
        window_output_size(hw[0], kernel[0], stride[0], pads[0], pads[2], dilation[0], ceil_mode),
        window_output_size(hw[1], kernel[1], stride[1], pads[1], pads[3], dilation[1], ceil_mode),
    )


def _padded_widths(hw, kernel, stride, pads, dilation, out_hw) -> tuple[tuple[int, int], tuple[int, int]]:
    """(before, after) padding of H and W that holds every one of the ``out_hw`` windows (ceil mode
    can need more than ``pads`` at the bottom and right)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = out_hw
    extra_h = max(0, (ho - 1) * sh + dh * (kh - 1) + 1 - (hw[0] + pads[0] + pads[2]))
    extra_w = max(0, (wo - 1) * sw + dw * (kw - 1) + 1 - (hw[1] + pads[1] + pads[3]))
    return (pads[0], pads[2] + extra_h), (pads[1], pads[3] + extra_w)


def pad_for_windows(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
    fill: float,
) -> np.ndarray:
    """``x`` (N, C, H, W) padded with ``fill`` by ``pads`` and, where ceil mode needs it, further
    at the bottom and right so that every one of the ``out_hw`` windows lies inside the array."""
    width = ((0, 0), (0, 0)) + _padded_widths(x.shape[2:], kernel, stride, pads, dilation, out_hw)
    return np.pad(x, width, constant_values=fill) if any(sum(w) for w in width) else x


def padded_windows(x, kernel, stride, pads, dilation, out_hw, fill) -> np.ndarray:
    """View of all windows of a padded NCHW batch: shape (N, C, Ho, Wo, kh, kw)
    (arguments as in :func:`pad_for_windows`)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = out_hw
    xp = pad_for_windows(x, kernel, stride, pads, dilation, out_hw, fill)
    view = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return view[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw, ::dh, ::dw]


def unwindow(cols: np.ndarray, hw: tuple[int, int], kernel, stride, pads, dilation) -> np.ndarray:
    """The adjoint of :func:`padded_windows`: every window element of ``cols`` (N, C, Ho, Wo, kh, kw)
    added back to the input position it was read from, (N, C, H, W); what fell on padding is dropped.
    The gradient of an input from the gradients of its windows' elements."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    n, c, ho, wo = cols.shape[:4]
    (top, bottom), (left, right) = _padded_widths(hw, kernel, stride, pads, dilation, (ho, wo))
    out = np.zeros((n, c, hw[0] + top + bottom, hw[1] + left + right), np.float32)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh : i * dh + (ho - 1) * sh + 1 : sh, j * dw : j * dw + (wo - 1) * sw + 1 : sw] += cols[
                :, :, :, :, i, j
            ]
    return out[:, :, top : top + hw[0], left : left + hw[1]]


def window_reduce(x, kernel, stride, pads, dilation, out_hw, fill, ufunc: np.ufunc) -> np.ndarray:
    """Reduce every window with ``ufunc`` (np.maximum, np.add): one vectorised step per kernel
    offset, much faster than reducing a 6-D window view (arguments as in :func:`pad_for_windows`)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = out_hw
    xp = pad_for_windows(x, kernel, stride, pads, dilation, out_hw, fill)
    out = None
    for i in range(kh):
        for j in range(kw):
            part = xp[:, :, i * dh : i * dh + (ho - 1) * sh + 1 : sh, j * dw : j * dw + (wo - 1) * sw + 1 : sw]
            out = np.array(part, copy=True) if out is None else ufunc(out, part, out=out)
    return out


def window_fanout(
    in_hw: tuple[int, int],
    out_hw: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """How many of the ``out_hw`` windows hold each input position, int64 (H, W): the in-bounds
    targets of one input element per output channel it reaches."""
    counts = np.zeros(in_hw, np.int64)
    for i in range(kernel[0]):
        rows = np.arange(out_hw[0]) * stride[0] - pads[0] + i * dilation[0]
        rows = rows[(rows >= 0) & (rows < in_hw[0])]
        for j in range(kernel[1]):
            cols = np.arange(out_hw[1]) * stride[1] - pads[1] + j * dilation[1]
            cols = cols[(cols >= 0) & (cols < in_hw[1])]
            np.add.at(counts, (rows[:, None], cols[None, :]), 1)
    return counts
