"""NIR graphs written by other tools: read by NIR's definitions and checked against a NumPy
interpreter of those definitions (forward Euler with time step dt: IF v ← v + dt·r·I, LIF
v ← v + dt/τ·(v_leak − v + r·I), spike 1 at v ≥ v_threshold, then v ← v_reset; edges into a node
are summed), written here from the definitions and sharing no code with the reader. Values are
on binary grids, so that both compute exactly and the outputs must be equal."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import examples
from eventsim.cli.main import main
from hypothesis import given, settings
from hypothesis import strategies as st
from snn_builders import grid
from test_nir import exportable_networks

import eventsim
from eventsim.errors import UnsupportedError
from eventsim.interop import from_nir, read_nir, to_nir

nir = pytest.importorskip("nir")


def interpret(graph, x: np.ndarray, steps: int, dt: float, reset: str = "zero") -> np.ndarray:
    """Output of a feed-forward NIR graph of Input, Affine, Linear, Scale, IF, LIF and Output nodes
    for input ``x`` (N, F) given in every step: (N, steps, outputs), summed over the steps so far;
    ``reset="subtract"``: a spike subtracts v_threshold instead of setting v_reset."""
    order, done = [], set()
    while len(order) < len(graph.nodes):
        for key in graph.nodes:
            sources = [s for s, d in graph.edges if d == key]
            if key not in done and all(s in done for s in sources):
                order.append(key)
                done.add(key)
    state = {key: 0.0 for key in graph.nodes}
    out = []
    for _ in range(steps):
        value = {}
        for key in order:
            node = graph.nodes[key]
            current = sum(value[s] for s, d in graph.edges if d == key) if key not in ("input",) else x
            kind = type(node).__name__
            if kind in ("Input", "Output"):
                value[key] = current
            elif kind == "Affine":
                value[key] = current @ np.asarray(node.weight, np.float64).T + node.bias
            elif kind == "Linear":
                value[key] = current @ np.asarray(node.weight, np.float64).T
            elif kind == "Scale":
                value[key] = current * node.scale
            else:
                v = state[key]
                if kind == "IF":
                    v = v + dt * node.r * current
                else:
                    v = v + dt / node.tau * (node.v_leak - v + node.r * current)
                spike = (v >= node.v_threshold).astype(np.float64)
                state[key] = np.where(spike > 0, node.v_reset, v) if reset == "zero" else v - spike * node.v_threshold
                value[key] = spike
        out.append(value["output"])
    return np.cumsum(np.stack(out, axis=1), axis=1)


@st.composite
def foreign_graphs(draw):
    """Input → (Affine or Linear, optional Scale → IF or LIF) × 1..3 → Affine → Output, sometimes with
    a skip edge from the first layer's spikes into the last affine's successor layer; θ, r, τ, dt,
    weights and inputs on binary grids."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    dt = draw(st.sampled_from([1.0, 0.5, 2.0**-13]))  # snnTorch-like small steps too
    width = draw(st.integers(2, 5))
    nodes = {"input": nir.Input(input_type={"input": np.array([width])})}
    edges, last, spikes = [], "input", []
    for i in range(draw(st.integers(1, 3))):
        n_out = draw(st.integers(2, 5))
        w = grid(rng, (n_out, width), -1.0, 1.0, 0.125)
        if draw(st.booleans()):
            nodes[f"fc{i}"] = nir.Affine(weight=w, bias=grid(rng, (n_out,), -0.25, 0.5, 0.125))
        else:
            nodes[f"fc{i}"] = nir.Linear(weight=w)
        edges.append((last, f"fc{i}"))
        last, width = f"fc{i}", n_out
        if draw(st.booleans()):
            nodes[f"scale{i}"] = nir.Scale(scale=grid(rng, (n_out,), 0.5, 2.0, 0.5))
            edges.append((last, f"scale{i}"))
            last = f"scale{i}"
        theta = np.float32(draw(st.sampled_from([0.5, 1.0, 2.0]))) * np.ones(n_out, np.float32)
        r = np.float32(draw(st.sampled_from([0.5, 1.0, 2.0]))) / np.float32(dt) * np.ones(n_out, np.float32)
        if draw(st.booleans()):
            nodes[f"lif{i}"] = nir.IF(r=r, v_threshold=theta, v_reset=np.zeros(n_out, np.float32))
        else:
            tau = np.float32(dt) / np.float32(draw(st.sampled_from([0.25, 0.5]))) * np.ones(n_out, np.float32)
            zero = np.zeros(n_out, np.float32)
            nodes[f"lif{i}"] = nir.LIF(tau=tau, r=r * tau, v_leak=zero, v_threshold=theta, v_reset=zero)
        edges.append((last, f"lif{i}"))
        last = f"lif{i}"
        spikes.append((last, width))
    classes = draw(st.integers(2, 4))
    nodes["readout"] = nir.Affine(weight=grid(rng, (classes, width), -1.0, 1.0, 0.125), bias=np.zeros(classes))
    edges.append((last, "readout"))
    if len(spikes) > 1 and spikes[0][1] == classes and draw(st.booleans()):
        edges.append((spikes[0][0], "output"))  # a skip: Output sums both
    nodes["output"] = nir.Output(output_type={"output": np.array([classes])})
    edges.append(("readout", "output"))
    x = grid(rng, (3, nodes["input"].input_type["input"][0]), 0.0, 1.0, 0.125)
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), x, dt


@settings(max_examples=examples(60), deadline=None)
@given(foreign_graphs(), st.sampled_from(["zero", "subtract"]))
def test_foreign_graphs_run_as_nir_defines_them(case, reset):
    graph, x, dt = case
    net = from_nir(graph, dt=dt, reset=reset)
    assert all(layer.kind == "lif" and layer.reset == reset for layer in net.layers.values())
    rec = eventsim.simulate(net, x, 6, engine="reference")
    expected = interpret(graph, x.astype(np.float64), 6, dt, reset)
    assert np.array_equal(rec.outputs.reshape(expected.shape), expected.astype(np.float32))
    event = eventsim.simulate(net, x, 6, engine="event")
    assert np.array_equal(event.outputs, rec.outputs)


@settings(max_examples=examples(25), deadline=None)
@given(exportable_networks(), st.sampled_from([1.0, 0.5]), st.sampled_from(["zero", "subtract"]))
def test_exported_convnets_read_without_eventsim_records_run_the_same(tmp_path_factory, case, beta, reset):
    """Convs (grouped, padded, dilated), average pools, residual adds, concatenations (split weights)
    and flatten with per-layer or per-channel thresholds, written by eventsim and read back as a foreign graph by NIR's
    definitions: the thresholds that eventsim's spikes carry are in the weights, so with neurons NIR
    can state (v0 = 0, no temporal bias) and the reset read as written, it is the same network."""
    net, x = case
    for layer in net.layers.values():
        layer.kind, layer.leak, layer.reset = "lif", beta, reset
        layer.v0, layer.temporal_bias = np.float32(0), None
        # the reader measures membranes in thresholds (current / θ): exact for powers of two
        layer.threshold = np.exp2(np.round(np.log2(layer.threshold))).astype(np.float32)
    graph = to_nir(net, warn=False)
    graph.metadata = {}
    for node in graph.nodes.values():
        node.metadata = {}
    path = tmp_path_factory.mktemp("nir") / "foreign.nir"
    nir.write(str(path), graph)
    foreign = read_nir(path, reset=reset)
    assert foreign.meta["source"] == "nir" and len(foreign.layers) == len(net.layers)
    ours = eventsim.simulate(net, x, 5, engine="reference")
    theirs = eventsim.simulate(foreign, x, 5, engine="reference")
    for name in net.layer_names:  # a NIR file keeps no node order: compare the layers by name
        column = foreign.layer_names.index(name)
        assert np.array_equal(
            ours.spikes_per_sample[:, net.layer_names.index(name)], theirs.spikes_per_sample[:, column]
        )
    assert np.allclose(ours.outputs, theirs.outputs, rtol=1e-5, atol=1e-5)  # split sums round otherwise


def single(node, width: int = 3):
    """Input → Affine → ``node`` → Output."""
    nodes = {
        "input": nir.Input(input_type={"input": np.array([width])}),
        "fc": nir.Affine(weight=np.ones((width, width), np.float32), bias=np.zeros(width, np.float32)),
        "neurons": node,
        "output": nir.Output(output_type={"output": np.array([width])}),
    }
    edges = [("input", "fc"), ("fc", "neurons"), ("neurons", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


ONES = np.ones(3, np.float32)


@pytest.mark.parametrize(
    "graph, match",
    [
        (single(nir.CubaLIF(**{k: ONES for k in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold")})), "CubaLIF"),
        (single(nir.IF(r=ONES, v_threshold=ONES, v_reset=ONES)), "v_reset other than 0"),
        (single(nir.LIF(tau=ONES, r=ONES, v_leak=ONES, v_threshold=ONES, v_reset=0 * ONES)), "v_leak"),
        (single(nir.LIF(tau=np.array([2, 4, 4], np.float32), r=ONES, v_leak=0 * ONES, v_threshold=ONES)), "one value"),
        (single(nir.IF(r=ONES, v_threshold=0 * ONES)), "thresholds"),
    ],
)
def test_what_eventsim_cannot_run_is_refused_by_node(graph, match):
    with pytest.raises(UnsupportedError, match=match) as info:
        from_nir(graph)
    assert "'neurons'" in str(info.value)


def test_recurrent_graphs_and_bad_dt_are_refused():
    graph = single(nir.IF(r=ONES, v_threshold=ONES, v_reset=0 * ONES))
    graph.edges.append(("neurons", "fc"))
    with pytest.raises(UnsupportedError, match="recurrent"):
        from_nir(graph)
    with pytest.raises(UnsupportedError, match="dt"):
        from_nir(single(nir.IF(r=ONES, v_threshold=ONES)), dt=0.0)


def test_lif_leak_needs_the_tools_time_step():
    """snnTorch writes τ = dt/(1 − β) for dt = 1e-4: read with dt = 1 the leak is not in (0, 1]."""
    lif = nir.LIF(tau=1e-4 / 0.5 * ONES, r=ONES / 0.5, v_leak=0 * ONES, v_threshold=ONES, v_reset=0 * ONES)
    with pytest.raises(UnsupportedError, match="dt"):
        from_nir(single(lif))
    assert from_nir(single(lif), dt=1e-4).layers["neurons"].leak == pytest.approx(0.5)


def test_cli_import_nir(tmp_path):
    graph = single(nir.IF(r=ONES, v_threshold=ONES * 2, v_reset=0 * ONES))
    nir.write(str(tmp_path / "foreign.nir"), graph)
    result = CliRunner().invoke(main, ["import-nir", str(tmp_path / "foreign.nir"), str(tmp_path / "net.npz")])
    assert result.exit_code == 0, result.output
    assert "another tool's" in result.output
    net = eventsim.SpikingNetwork.load(tmp_path / "net.npz")
    x = np.full((1, 3), 0.5, np.float32)
    assert np.array_equal(
        eventsim.simulate(net, x, 4, engine="reference").outputs.reshape(1, 4, 3),
        interpret(graph, x.astype(np.float64), 4, 1.0).astype(np.float32),
    )
    (tmp_path / "bad.nir").write_bytes(b"not hdf5")
    result = CliRunner().invoke(main, ["import-nir", str(tmp_path / "bad.nir"), str(tmp_path / "bad.npz")])
    assert result.exit_code == 2 and "Traceback" not in result.output and not (tmp_path / "bad.npz").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = CliRunner().invoke(main, ["import-nir", str(tmp_path / "foreign.nir"), "x.npz", "--dt", "0"])
    assert result.exit_code == 2


def test_non_finite_parameters_are_refused_by_node():
    graph = single(nir.IF(r=ONES, v_threshold=ONES, v_reset=0 * ONES))
    graph.nodes["fc"].weight[0, 0] = np.nan
    with pytest.raises(UnsupportedError, match="'fc'.*finite"):
        from_nir(graph)
