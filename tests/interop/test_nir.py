"""NIR export and import: eventsim → NIR file → eventsim is the same network (fingerprint, and the
reference engine's outputs and spike counts bit for bit); what NIR cannot express is refused by name."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import examples
from eventsim.cli.main import main
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import NetBuilder, bistable, exact_network, grid

import eventsim
from eventsim.errors import UnsupportedError
from eventsim.interop import from_nir, read_nir, to_nir, write_nir
from eventsim.snn.network import SpikingNetwork

nir = pytest.importorskip("nir")


@st.composite
def exportable_networks(draw):
    """A random small CNN of what NIR can carry: conv (groups, stride, pad, dilation), residual adds,
    average pooling (padded or not), flatten, dense; IF layers with per-layer or per-channel θ, v0
    and temporal biases; grid inputs."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    c, hw = draw(st.integers(1, 3)), draw(st.integers(5, 8))
    b = NetBuilder(rng, (c, hw, hw), normalise=draw(st.booleans()))
    for _ in range(draw(st.integers(1, 2))):
        src, c_in = b.current, b.shape[0]
        if draw(st.booleans()) or b.current == "x":
            groups = draw(st.sampled_from([1, c_in]))
            c_out = groups * draw(st.integers(1, 2))
            size = min(b.shape[1:])
            k = draw(st.integers(1, min(3, size)))
            pad, dilation = draw(st.integers(0, k - 1)), draw(st.integers(1, 2))
            if dilation * (k - 1) + 1 > size + 2 * pad:
                dilation = 1
            b.relu(b.conv(src, c_out, k, draw(st.integers(1, 2)), pad, dilation, groups))
        elif draw(st.booleans()):
            first = b.relu(b.conv(src, c_in, 3, 1, 1, 1, 1))
            b.relu(b.add("add", [b.conv(first, c_in, 3, 1, 1, 1, 1), src]))
        else:  # a dense block: the conv reads a concatenation (nested: concat of a concat)
            joined = b.add("concat", [src, b.relu(b.conv(src, draw(st.integers(1, 2)), 1, 1, 0, 1, 1))], {"axis": 0})
            if draw(st.booleans()):
                joined = b.add("concat", [b.relu(b.conv(src, 1, 3, 1, 1, 1, 1)), joined], {"axis": 0})
            b.relu(b.conv(joined, draw(st.integers(1, 3)), draw(st.integers(1, 3)), 1, 1, 1, 1))
        if draw(st.booleans()) and min(b.shape[1:]) >= 2:
            k, stride = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            pad = draw(st.integers(0, k - 1))
            b.pool(b.current, "avgpool", (k, k), (stride, stride), (pad,) * 4, draw(st.booleans()))
    if draw(st.booleans()):  # flatten → dense read a concatenation of channels
        src = b.current
        b.add("concat", [src, b.relu(b.conv(src, 1, 1, 1, 0, 1, 1))], {"axis": 0})
    b.flatten(b.current)
    if draw(st.booleans()):
        b.relu(b.dense(b.current, draw(st.integers(2, 5))))
    b.dense(b.current, draw(st.integers(2, 4)))
    net = exact_network(b.graph(), rng, draw(st.sampled_from(["half", "zero"])))
    if draw(st.booleans()):  # leaky neurons, as training makes them
        for layer in net.layers.values():
            layer.kind, layer.leak = "lif", draw(st.sampled_from([1.0, 0.5, 0.75]))
            layer.reset = draw(st.sampled_from(["subtract", "zero"]))
    for name, layer in net.layers.items():
        if draw(st.booleans()):
            channels = () if draw(st.booleans()) else (net.graph.node(name).shape[0],)
            layer.temporal_bias = grid(rng, (draw(st.integers(1, 4)),) + channels, -0.5, 0.5, 0.125)
    x = grid(rng, (2,) + net.graph.input_shape, 0.0, 1.0, 0.125)
    return net, x


def round_trip(net: SpikingNetwork, path) -> SpikingNetwork:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_nir(net, path)
    return read_nir(path)


@settings(max_examples=examples(40))
@given(exportable_networks())
def test_round_trip_is_the_same_network(tmp_path_factory, case):
    net, x = case
    back = round_trip(net, tmp_path_factory.mktemp("nir") / "net.nir")
    assert back.fingerprint() == net.fingerprint()
    ours = eventsim.simulate(net, x, 6, engine="reference")
    theirs = eventsim.simulate(back, x, 6, engine="reference")
    assert np.array_equal(ours.outputs, theirs.outputs)
    assert np.array_equal(ours.spikes_per_sample, theirs.spikes_per_sample)


def small_net(rng, op: str = "avgpool") -> SpikingNetwork:
    b = NetBuilder(rng, (2, 6, 6), normalise=False)
    b.relu(b.conv("x", 2, 3, 1, 1, 1, 2))
    if op == "concat":
        b.add("concat", [b.current, b.relu(b.conv(b.current, 1, 1, 1, 0, 1, 1))], {"axis": 0})
    else:
        b.pool(b.current, op, (2, 2), (2, 2), (0, 0, 0, 0))
    b.flatten(b.current)
    b.dense(b.current, 3)
    return exact_network(b.graph(), rng, "half")


def test_exported_graph_passes_nir_type_check_and_keeps_metadata(tmp_path):
    net = small_net(np.random.default_rng(0))
    with pytest.warns(UserWarning, match="reset"):
        graph = to_nir(net)
    assert graph.check_types()
    assert isinstance(graph.nodes["n1"], nir.Conv2d) and graph.nodes["n1"].groups == 1  # grouped → block diagonal
    assert isinstance(graph.nodes["n2"], nir.IF) and isinstance(graph.nodes["n3"], nir.SumPool2d)
    assert np.array_equal(graph.nodes["n2"].v_threshold, net.threshold_array("n2"))
    nir.write(tmp_path / "g.nir", graph)
    again = nir.read(tmp_path / "g.nir")  # type-checked on reading
    assert "eventsim_neurons" in again.nodes["n2"].metadata
    assert from_nir(again).fingerprint() == net.fingerprint()


def test_concatenation_becomes_split_weights(tmp_path):
    rng = np.random.default_rng(5)
    net = small_net(rng, "concat")
    graph = to_nir(net, warn=False)
    assert "n5" not in graph.nodes  # the concat itself
    pieces = [graph.nodes[f"n6.piece{i}"] for i in range(2)]  # the flatten, once per piece
    assert all(isinstance(piece, nir.Flatten) for piece in pieces)
    affines = [graph.nodes[f"n7.piece{i}"] for i in range(2)]
    w = net.graph.node("n7").params["W"]
    # NIR's spikes are 1: each piece's columns carry its layer's θ (per channel, over its 6x6 pixels)
    theta = [np.broadcast_to(net.layers[n].threshold, (net.graph.node(n).shape[0],)) for n in ("n2", "n4")]
    scale = np.repeat(np.concatenate(theta), 36)
    assert np.array_equal(np.concatenate([a.weight for a in affines], axis=1), w * scale)
    assert np.array_equal(affines[0].bias, net.graph.node("n7").params["b"]) and not np.any(affines[1].bias)
    assert {("n6.piece0", "n7.piece0"), ("n6.piece1", "n7.piece1"), ("n7.piece1", "output")} <= set(graph.edges)
    nir.write(tmp_path / "g.nir", graph)
    assert from_nir(nir.read(tmp_path / "g.nir")).fingerprint() == net.fingerprint()


def concat_into_pool(rng) -> SpikingNetwork:
    b = NetBuilder(rng, (2, 6, 6), normalise=False)
    first = b.relu(b.conv("x", 2, 3, 1, 1, 1, 1))
    b.add("concat", [first, b.relu(b.conv(first, 1, 1, 1, 0, 1, 1))], {"axis": 0})
    b.pool(b.current, "avgpool", (2, 2), (2, 2), (0, 0, 0, 0))
    b.flatten(b.current)
    b.dense(b.current, 3)
    return exact_network(b.graph(), rng, "half")


@pytest.mark.parametrize(
    "make, fragments",
    [
        (lambda rng: small_net(rng, "maxpool"), ["'n3'", "maxpool", "NIR has no form"]),
        (concat_into_pool, ["'n6'", "avgpool", "concatenation"]),
    ],
)
def test_refuses_ops_nir_cannot_express(make, fragments):
    with pytest.raises(UnsupportedError) as info:
        to_nir(make(np.random.default_rng(1)), warn=False)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_leaky_layers_are_nir_lif_with_the_euler_step_of_their_leak():
    rng = np.random.default_rng(6)
    net = small_net(rng)
    layer = net.layers["n2"]
    layer.kind, layer.leak, layer.reset = "lif", 0.75, "zero"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reset to zero with θ = 1 is what NIR's LIF does: no warning
        layer.threshold = np.ones_like(layer.threshold)
        lif = to_nir(net).nodes["n2"]
    assert isinstance(lif, nir.LIF)
    # forward Euler, dt = 1: v + (v_leak - v + r I)/tau = (1 - 1/tau) v + (r/tau) I
    assert np.allclose(1 - 1 / lif.tau, 0.75) and np.allclose(lif.r / lif.tau, 1) and not np.any(lif.v_leak)
    layer.reset = "subtract"
    with pytest.warns(UserWarning, match="layer 'n2' resets by subtracting"):
        to_nir(net)


def test_refuses_other_neuron_kinds_and_temporal_decoding():
    rng = np.random.default_rng(2)
    graph = small_net(rng).graph
    with pytest.raises(UnsupportedError, match="layer 'n2'.*'bistable'"):
        to_nir(bistable(graph, rng, 4, "half"), warn=False)
    net = small_net(rng)
    net.layers["n2"].kind = "signed"
    with pytest.raises(UnsupportedError, match="layer 'n2'.*'signed'"):
        to_nir(net, warn=False)
    temporal = SpikingNetwork(graph, small_net(rng).layers, decoding="temporal")
    with pytest.raises(UnsupportedError, match="temporal"):
        to_nir(temporal, warn=False)


def test_missing_nir_package_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(UnsupportedError, match=r'pip install "eventsim\[nir\]"'):
        to_nir(small_net(np.random.default_rng(3)))


def test_cli_export_nir(tmp_path):
    rng = np.random.default_rng(4)
    small_net(rng).save(tmp_path / "net.npz")
    result = CliRunner().invoke(main, ["export-nir", str(tmp_path / "net.npz"), str(tmp_path / "net.nir")])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "warning:" in result.output
    assert read_nir(tmp_path / "net.nir").fingerprint() == SpikingNetwork.load(tmp_path / "net.npz").fingerprint()
    small_net(rng, "maxpool").save(tmp_path / "max.npz")
    result = CliRunner().invoke(main, ["export-nir", str(tmp_path / "max.npz"), str(tmp_path / "max.nir")])
    assert result.exit_code == 2 and result.output.count("error:") == 1 and "maxpool" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "max.nir").exists()


def test_importing_eventsim_does_not_import_nir():
    code = "import eventsim, sys; assert 'nir' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_residual_export_holds_theta_in_weights_and_needs_no_scale_nodes():
    """An add of a conv's current and a spike train is edges into the next IF, the conv divided by the
    shortcut's θ; an unpadded average pool is a SumPool2d whose 1/(k·k) the dense after it holds."""
    rng = np.random.default_rng(8)
    b = NetBuilder(rng, (2, 6, 6), normalise=False)
    src = b.relu(b.conv("x", 2, 3, 1, 1, 1, 1))
    branch = b.conv(b.relu(b.conv(src, 2, 3, 1, 1, 1, 1)), 2, 3, 1, 1, 1, 1)
    b.relu(b.add("add", [branch, src]))
    b.pool(b.current, "avgpool", (2, 2), (2, 2), (0, 0, 0, 0))
    b.flatten(b.current)
    b.dense(b.current, 3)
    net = exact_network(b.graph(), rng, "zero")
    graph = to_nir(net, warn=False)
    assert {type(node).__name__ for node in graph.nodes.values()} == {
        "Input", "Conv2d", "IF", "SumPool2d", "Flatten", "Affine", "Output"
    }  # fmt: skip
    theta = np.broadcast_to(net.layers[src].threshold, (2,))
    w, inner = net.graph.node(branch).params["W"], net.graph.node(branch).inputs[0]
    theta_in = np.broadcast_to(net.layers[inner].threshold, (2,))  # the spikes it reads carry it
    expected = w * theta_in[None, :, None, None] / theta[:, None, None, None]
    assert np.allclose(graph.nodes[branch].weight, expected)
    assert {(branch, "n7"), (src, "n7")} <= set(graph.edges)  # n7: the IF after the add
    # the IF's threshold takes the shortcut's θ, as its input in NIR is the add over it
    assert np.allclose(graph.nodes["n7"].v_threshold, net.threshold_array("n7") / theta[:, None, None])
    assert from_nir(graph).fingerprint() == net.fingerprint()
