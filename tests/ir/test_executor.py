"""The ANN executor: input checks, batching, and convolution against direct summation."""

from __future__ import annotations

import numpy as np
import pytest
from test_graph import conv, inp

import eventsim
from eventsim import Graph, Node


def test_executor_checks_its_input():
    g = Graph([inp(), Node("r", "relu", ("x",))], "r")
    with pytest.raises(eventsim.DataError, match="single sample"):
        eventsim.run_ann(g, np.zeros((2, 6, 6)))
    with pytest.raises(eventsim.DataError, match="NaN"):
        eventsim.run_ann(g, np.full((1, 2, 6, 6), np.nan))
    with pytest.raises(eventsim.DataError, match="dtype"):
        eventsim.run_ann(g, np.array([["a"]]))


def test_executor_batches_give_the_same_result():
    g = Graph([inp(), conv("c", "x", 2, 4), Node("r", "relu", ("c",))], "r")
    x = np.random.default_rng(1).standard_normal((9, 2, 6, 6)).astype(np.float32)
    whole = eventsim.run_ann(g, x)
    np.testing.assert_array_equal(eventsim.run_ann(g, x, batch_size=4), whole)
    assert whole.dtype == np.float32 and whole.shape == (9, 4, 6, 6)


def test_conv_matches_direct_summation():
    """The im2col convolution against a naive loop (an independent oracle for strides and groups)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    node = conv("c", "x", 4, 6, k=3, stride=2, pad=1, groups=2, dilation=2)
    g = Graph([inp((4, 7, 7)), node], "c")
    w = node.params["W"]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.zeros((2,) + g.output_shape)
    for o in range(6):
        grp = o // 3
        for i in range(g.output_shape[1]):
            for j in range(g.output_shape[2]):
                patch = xp[:, grp * 2 : (grp + 1) * 2, 2 * i : 2 * i + 5 : 2, 2 * j : 2 * j + 5 : 2]
                expected[:, o, i, j] = np.sum(patch * w[o], axis=(1, 2, 3))
    np.testing.assert_allclose(eventsim.run_ann(g, x), expected, rtol=1e-5, atol=1e-5)
