"""The IR: construction checks, shapes, MAC counts (against closed forms), summaries, executor input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim import Graph, Node


def inp(shape=(2, 6, 6)):
    return Node(
        "x",
        "input",
        (),
        {"source_shape": shape, "perm": tuple(range(len(shape)))},
        {"scale": np.ones(()), "shift": np.zeros(())},
    )


def conv(name, src, c_in, c_out, k=3, stride=1, pad=1, groups=1, dilation=1):
    w = np.random.default_rng(0).standard_normal((c_out, c_in // groups, k, k))
    return Node(
        name,
        "conv",
        (src,),
        {"stride": (stride, stride), "pads": (pad,) * 4, "dilation": (dilation, dilation), "groups": groups},
        {"W": w, "b": np.zeros(c_out)},
    )


def test_shapes_are_inferred_and_checked():
    g = Graph(
        [
            inp(),
            conv("c", "x", 2, 4),
            Node("r", "relu", ("c",)),
            Node("f", "reshape", ("r",), {"shape": (144,)}),
            Node("d", "dense", ("f",), {}, {"W": np.ones((3, 144)), "b": np.zeros(3)}),
        ],
        "d",
    )
    assert [n.shape for n in g.nodes] == [(2, 6, 6), (4, 6, 6), (4, 6, 6), (144,), (3,)]
    assert g.output_shape == (3,) and g.input_shape == (2, 6, 6)
    assert [n.name for n in g.activation_nodes()] == ["r"]
    assert [n.name for n in g.consumers("c")] == ["r"]


@pytest.mark.parametrize(
    "nodes, output, message",
    [
        ([conv("c", "x", 2, 4)], "c", "must start with its input"),
        ([inp(), conv("c", "x", 3, 4)], "c", "input channels"),
        ([inp(), Node("r", "relu", ("nope",))], "r", "no earlier node"),
        ([inp(), Node("r", "relu", ("x",)), Node("r", "relu", ("x",))], "r", "used twice"),
        ([inp(), Node("a", "add", ("x",))], "a", "inputs"),
        ([inp(), Node("d", "dense", ("x",), {}, {"W": np.ones((3, 72)), "b": np.zeros(3)})], "d", "flat"),
        ([inp(), Node("r", "relu", ("x",))], "zzz", "output"),
        (
            [
                inp(),
                Node(
                    "p",
                    "maxpool",
                    ("x",),
                    {"kernel": (9, 9), "stride": (1, 1), "pads": (0, 0, 0, 0), "dilation": (1, 1), "ceil_mode": False},
                ),
            ],
            "p",
            "does not fit",
        ),
        ([inp(), Node("q", "qcfs", ("x",), {"levels": 0, "lam": 1.0})], "q", "levels"),
    ],
)
def test_invalid_graphs_are_refused(nodes, output, message):
    with pytest.raises(eventsim.ShapeError, match=message):
        Graph(nodes, output)


def test_unknown_op_is_refused():
    with pytest.raises(eventsim.UnsupportedError, match="unknown graph op 'sigmoid'"):
        Graph([inp(), Node("s", "sigmoid", ("x",))], "s")


@settings(max_examples=40)
@given(
    c_in=st.integers(1, 4),
    mult=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    dilation=st.integers(1, 2),
    size=st.integers(7, 12),
    depthwise=st.booleans(),
)
def test_conv_macs_match_the_closed_form(c_in, mult, k, stride, pad, dilation, size, depthwise):
    groups = c_in if depthwise else 1
    c_out = c_in * mult
    g = Graph([inp((c_in, size, size)), conv("c", "x", c_in, c_out, k, stride, pad, groups, dilation)], "c")
    out = (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    assert g.node("c").shape == (c_out, out, out)
    assert g.macs(g.node("c")) == c_out * out * out * (c_in // groups) * k * k


def test_summary_and_json():
    g = Graph([inp(), conv("c", "x", 2, 4), Node("r", "relu", ("c",))], "r", notes=["something changed"])
    text = g.summary()
    assert "conv" in text and "4x6x6" in text and "note: something changed" in text
    assert f"{g.macs(g.node('c')):,}" in text
    doc = json.loads(g.to_json())
    assert doc["total_params"] == 4 * 2 * 9 + 4 and doc["activation_layers"] == ["r"]
