"""Plain NumPy twins of the layer engine's kernels (:mod:`.kernels`), same arguments, same results:
what the tests hold the kernels to, written for clarity instead of speed."""

from __future__ import annotations

import numpy as np

from ...snn.kinds import get_kind
from ...snn.kinds.base import IDLE
from ..event.kinds import RULES


def count_events(x: np.ndarray, fanout: np.ndarray, sops: np.ndarray) -> None:
    sops[:] = ((x != 0) * fanout).sum(axis=1)


def dense_events(x: np.ndarray, weights: np.ndarray, geo: np.ndarray, out: np.ndarray, parts: int) -> None:
    out[:] = 0.0
    for r, i in zip(*np.nonzero(x)):
        out[r] += x[r, i] * weights[i]


def conv_events(x: np.ndarray, weights: np.ndarray, geo: np.ndarray, out: np.ndarray, parts: int) -> None:
    c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, sh, sw, pt, pl, dh, dw, groups = (int(v) for v in geo[:15])
    c_g, o_g = c_in // groups, c_out // groups
    taps = weights.reshape(groups, kh, kw, c_g, o_g)
    acc = np.zeros((len(x), c_out, h_out, w_out), np.float32)
    for r, i in zip(*np.nonzero(x)):
        c, y, xx = np.unravel_index(i, (c_in, h_in, w_in))
        g = c // c_g
        for ki in range(kh):
            for kj in range(kw):
                oy, ox = y + pt - ki * dh, xx + pl - kj * dw
                if oy % sh or ox % sw or not (0 <= oy // sh < h_out and 0 <= ox // sw < w_out):
                    continue
                acc[r, g * o_g : (g + 1) * o_g, oy // sh, ox // sw] += x[r, i] * taps[g, ki, kj, c - g * c_g]
    out[:] = acc.reshape(len(x), -1)


def neuron_steps(kind, static, current, bias, theta, phases, v, memory, values, counts, neuron_counts, block):
    spec = get_kind(RULES[kind])
    steps, n, size = values.shape
    for t in range(steps):
        if phases[t] == IDLE:  # the kernel skips a waiting layer's step
            values[t], counts[t] = 0, 0
            continue
        c = static + current[t] if current.shape[0] else np.broadcast_to(static, (n, size))
        if bias.shape[0]:
            c = c + bias[t]
        v[:], spike, memory[:] = spec.step(v, c, theta, phases[t], memory)
        values[t] = (spike * theta).astype(np.float32)
        many = np.abs(spike).astype(np.int64)
        neuron_counts += many
        padded = np.zeros((n, counts.shape[2] * block), np.int64)
        padded[:, :size] = many
        counts[t] = padded.reshape(n, counts.shape[2], block).sum(axis=2)


def maxpool_steps(x, geo, cumulative, previous, out) -> None:
    c, h, w, _, ho, wo = (int(v) for v in geo[:6])
    kernel, stride, pads, dilation = (int(geo[6]), int(geo[7])), (int(geo[8]), int(geo[9])), geo[10:12], geo[12:14]
    steps, n = x.shape[:2]
    for t in range(steps):
        cumulative += x[t]
        tall = max(h + int(pads[0]), (ho - 1) * stride[0] + (kernel[0] - 1) * int(dilation[0]) + 1)
        wide = max(w + int(pads[1]), (wo - 1) * stride[1] + (kernel[1] - 1) * int(dilation[1]) + 1)
        padded = np.full((n, c, tall, wide), -np.inf, np.float32)
        padded[:, :, int(pads[0]) : int(pads[0]) + h, int(pads[1]) : int(pads[1]) + w] = cumulative.reshape(n, c, h, w)
        pooled = np.full((n, c, ho, wo), -np.inf, np.float32)
        for ki in range(kernel[0]):
            for kj in range(kernel[1]):
                y0, x0 = ki * int(dilation[0]), kj * int(dilation[1])
                taps = padded[
                    :, :, y0 : y0 + (ho - 1) * stride[0] + 1 : stride[0], x0 : x0 + (wo - 1) * stride[1] + 1 : stride[1]
                ]
                pooled = np.maximum(pooled, taps)
        out[t] = pooled.reshape(n, -1) - previous
        previous[:] = pooled.reshape(n, -1)
