"""Round trip through another simulator: eventsim → NIR file (``write_nir``, ``nir.read``) → sinabs
3.1.3 (``sinabs.from_nir``), checked step by step against eventsim's reference engine.

sinabs reads NIR's ``IF`` as ``IAFSqueeze(spike_threshold=v_threshold, min_v_mem=-v_threshold)``
with its defaults ``spike_fn=MultiSpike`` (⌊v/θ⌋ spikes per step) and ``reset_fn=MembraneSubtract()``;
``v_reset`` and ``r`` are not read. After loading, each IAF is made an ideal subtractive-reset IF
through its public attributes (``spike_fn = SingleSpike``: one spike when v ≥ θ; ``MembraneSubtract``;
``min_v_mem = None``: no floor at −θ); nothing else is changed and nothing of eventsim's metadata is
used. eventsim's spikes carry θ where NIR's are 1: the export writes θ into the weights that read the
spikes, a residual add as edges summed into its successor (the conv branch divided by the shortcut's
θ) and an average pool as ``SumPool2d`` whose divisor the next weights hold — nodes sinabs maps.
Networks start from v = 0 (NIR has no v0) and every value lies on a binary grid (thresholds powers of
two where the export divides by them), so float32 sums are exact in any order and spikes and outputs
must be equal bit for bit, not merely close.

The other direction: sinabs models whose IAF layers emit one spike of 1 when v ≥ θ, with no floor
and reset to 0 (what NIR's IF says) or by subtraction, exported with ``sinabs.to_nir`` and read by
eventsim's reader of foreign graphs (``eventsim.interop.from_nir``, dt = 1, ``reset`` the same),
run the same in eventsim's reference engine.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from snn_builders import NetBuilder, exact_network, grid

import eventsim
from eventsim.snn.network import SpikingNetwork

pytestmark = pytest.mark.interop

sinabs = pytest.importorskip("sinabs")
nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")
from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike, SingleSpike  # noqa: E402

from eventsim.interop import from_nir  # noqa: E402

T = 12


def export_and_read(net: SpikingNetwork, path) -> nir.NIRGraph:
    """The network as another tool sees it: written by eventsim, read by ``nir.read``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eventsim's warning that NIR's IF resets to v_reset
        eventsim.write_nir(net, path)
    return nir.read(str(path))


def load_in_sinabs(graph, samples: int, ideal: bool = True) -> torch.nn.Module:
    """``sinabs.from_nir``; with ``ideal`` each IAF becomes an ideal subtractive-reset IF."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # sinabs calls nirtorch.load
        model = sinabs.from_nir(graph, batch_size=samples, num_timesteps=T)
    for module in model.modules():
        if isinstance(module, sinabs.layers.IAF) and ideal:
            module.spike_fn = SingleSpike
            module.reset_fn = MembraneSubtract()
            module.min_v_mem = None
    return model


def run_sinabs(model, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Direct coding, as eventsim's: the same input x in each of the T steps, fed as sinabs'
    squeezed (samples · T, ...) batch. Returns the output accumulated over the steps so far
    (samples, T, classes), as eventsim records it, and every node's output per step."""
    frames = torch.tensor(np.repeat(x[:, None], T, axis=1).reshape((-1,) + x.shape[1:]))
    with torch.no_grad():
        out, state = model(frames)
    per_node = {key: value.reshape((len(x), T) + value.shape[1:]).numpy() for key, value in state.cache.items()}
    return np.cumsum(out.reshape(len(x), T, -1).numpy(), axis=1), per_node


def assert_same_run(net: SpikingNetwork, model, x: np.ndarray) -> None:
    """sinabs' spikes in every layer and step and its output at every step equal the reference
    engine's; each step at most one spike, of 1 (eventsim's θ is in the next weights)."""
    ours = eventsim.simulate(net, x, T, engine="reference", raster_samples=range(len(x)))
    outputs, per_node = run_sinabs(model, x)
    for name in net.layer_names:
        theirs = per_node[name.replace("/", "|")]
        for sample in range(len(x)):
            assert np.array_equal(theirs[sample] != 0, ours.rasters[sample][name]), (name, sample)
        assert np.all((theirs == 0) | (theirs == 1)), name
    assert ours.spikes_per_sample.sum() > 0
    np.testing.assert_array_equal(outputs, ours.outputs)


def powers_of_two(net: SpikingNetwork) -> SpikingNetwork:
    """θ rounded to powers of two: a residual add's conv branch is written divided by the shortcut's θ
    (so that the add needs no ``nir.Scale``), exact only then."""
    for layer in net.layers.values():
        layer.threshold = np.exp2(np.round(np.log2(layer.threshold))).astype(np.float32)
    return net


def mlp(seed: int) -> tuple[SpikingNetwork, np.ndarray]:
    """Dense → IF → dense → IF → dense, a normalised flat input (a diagonal Affine in NIR);
    thresholds per layer or per neuron in [0.25, 2], v0 = 0."""
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (10,), normalise=False)
    b.nodes[0].params.update(scale=rng.choice([0.5, 1.0, 2.0], size=10), shift=grid(rng, (10,), -0.5, 0.5, 0.125))
    b.relu(b.dense("x", 8))
    b.relu(b.dense(b.current, 6))
    b.dense(b.current, 4)
    return exact_network(b.graph(), rng, "zero"), grid(rng, (3, 10), 0.0, 1.0, 0.125)


def residual_cnn(
    seed: int, add: bool = True, pool: bool = True, padded: bool = False
) -> tuple[SpikingNetwork, np.ndarray]:
    """Conv → IF → [conv → IF → conv, + the first IF's spikes] → IF → 2x2 average pool (``padded``:
    by 1, padding not counted) → flatten → dense → IF → dense, on a normalised (C, H, W) input (a
    diagonal 1x1 Conv2d in NIR); thresholds powers of two."""
    rng = np.random.default_rng(seed)
    b = NetBuilder(rng, (2, 6, 6), normalise=True)
    src = b.relu(b.conv("x", 3, 3, 1, 1, 1, 1))
    if add:
        first = b.relu(b.conv(src, 3, 3, 1, 1, 1, 1))
        b.relu(b.add("add", [b.conv(first, 3, 3, 1, 1, 1, 1), src]))
    if pool:
        b.pool(b.current, "avgpool", (2, 2), (2, 2), (1, 1, 1, 1) if padded else (0, 0, 0, 0))
    b.flatten(b.current)
    b.relu(b.dense(b.current, 5))
    b.dense(b.current, 3)
    return powers_of_two(exact_network(b.graph(), rng, "zero")), grid(rng, (3, 2, 6, 6), 0.0, 1.0, 0.125)


@pytest.mark.parametrize("seed", range(4))
def test_mlp_runs_the_same_in_sinabs(tmp_path, seed):
    net, x = mlp(seed)
    graph = export_and_read(net, tmp_path / "mlp.nir")
    assert_same_run(net, load_in_sinabs(graph, len(x)), x)


@pytest.mark.parametrize("seed", range(4))
def test_residual_conv_net_with_average_pooling_runs_the_same_in_sinabs(tmp_path, seed):
    """The add is edges summed into the next IF (its conv branch divided by the shortcut's θ), the
    pool a ``SumPool2d`` whose 1/4 the dense after it holds: nodes sinabs maps, loaded as written."""
    net, x = residual_cnn(seed)
    graph = export_and_read(net, tmp_path / "cnn.nir")
    kinds = {type(node).__name__ for node in graph.nodes.values()}
    assert kinds == {"Input", "Conv2d", "IF", "SumPool2d", "Flatten", "Affine", "Output"}
    assert_same_run(net, load_in_sinabs(graph, len(x)), x)


def test_an_unmapped_node_cuts_the_graph_without_an_error(tmp_path):
    """A pool whose divisor varies (padding not counted) is ``SumPool2d`` then ``Scale``, which sinabs
    does not map: nirtorch drops the node and its edges and runs one of the two pieces left (logging
    'Multiple input nodes found'): the model loads, and what it computes is not the network's output."""
    net, x = residual_cnn(7, add=False, pool=True, padded=True)
    graph = export_and_read(net, tmp_path / "cut.nir")
    assert any(isinstance(node, nir.Scale) for node in graph.nodes.values())
    model = load_in_sinabs(graph, len(x))
    try:
        outputs, _ = run_sinabs(model, x)
    except RuntimeError:  # the piece that starts at the cut receives the input and its shape is wrong
        return
    assert outputs.shape != (len(x), T, 3)


def test_a_concatenation_is_summed_before_its_second_piece_exists(tmp_path):
    """eventsim writes a concatenation as its consumer split per piece, the pieces' outputs summed into
    the next node. sinabs' loader (``nirtorch.load``) orders nodes depth-first from the input, so the
    sum runs after the first branch only: the second piece is left out without an error, and the
    model returns the last node in that order (a piece's currents), not the output."""
    rng = np.random.default_rng(5)
    b = NetBuilder(rng, (2, 6, 6), normalise=False)
    left = b.relu(b.conv("x", 2, 1, 1, 0, 1, 1))
    right = b.relu(b.conv("x", 3, 3, 1, 1, 1, 1))
    split = b.conv(b.add("concat", [left, right], {"axis": 0}), 3, 3, 1, 1, 1, 1)
    join = b.relu(split)
    b.flatten(b.current)
    b.dense(b.current, 3)
    net = exact_network(b.graph(), rng, "zero")
    x = grid(rng, (3, 2, 6, 6), 0.0, 1.0, 0.125)
    model = load_in_sinabs(export_and_read(net, tmp_path / "concat.nir"), len(x))
    order = [node.name for node in model.execution_order]
    assert order.index(join) < order.index(f"{split}_piece1")
    assert order[-1] == f"{split}_piece1"  # what the model returns
    with pytest.raises(AssertionError):
        assert_same_run(net, model, x)


def test_what_sinabs_makes_of_nir_if(tmp_path):
    """As loaded, without the settings above: ⌊v/θ⌋ spikes a step, reset by subtraction (v_reset is
    not read), a floor at −θ; and spikes of 1. Either difference alone changes the run."""
    net, x = mlp(0)
    graph = export_and_read(net, tmp_path / "mlp.nir")
    model = load_in_sinabs(graph, len(x), ideal=False)
    layers = [m for m in model.modules() if isinstance(m, sinabs.layers.IAF)]
    assert len(layers) == len(net.layer_names)
    for layer, name in zip(layers, net.layer_names):
        theta = np.broadcast_to(net.threshold_array(name), graph.nodes[name].v_threshold.shape)
        assert layer.spike_fn is MultiSpike and isinstance(layer.reset_fn, MembraneSubtract)
        assert np.array_equal(layer.spike_threshold.detach().numpy(), theta)
        assert np.array_equal(layer.min_v_mem.detach().numpy(), -theta)
    ours = eventsim.simulate(net, x, T, engine="reference")
    outputs, per_node = run_sinabs(model, x)
    assert max(per_node[name].max() for name in net.layer_names) > 1  # several spikes in one step
    assert not np.array_equal(outputs, ours.outputs)
    outputs, _ = run_sinabs(load_in_sinabs(graph, len(x)), x)  # the ideal IF: the same run
    assert np.array_equal(outputs, ours.outputs)


def test_v0_is_lost(tmp_path):
    """NIR has no initial potential: a network that starts at v0 = θ/2 runs from 0 in sinabs."""
    net, x = mlp(1)
    for layer in net.layers.values():
        layer.v0 = layer.threshold / 2
    ours = eventsim.simulate(net, x, T, engine="reference", raster_samples=range(len(x)))
    _, per_node = run_sinabs(load_in_sinabs(export_and_read(net, tmp_path / "mlp.nir"), len(x)), x)
    name = net.layer_names[0]
    assert any(not np.array_equal(per_node[name][s] != 0, ours.rasters[s][name]) for s in range(len(x)))


# --- sinabs → NIR → eventsim -------------------------------------------------------------------


def sinabs_iaf(theta: float, reset: str = "zero") -> torch.nn.Module:
    """An IAF layer with one spike of 1 per step at most and no floor, reset to 0 (what NIR's IF
    says) or by subtraction; ``reset="default"`` keeps sinabs' defaults (⌊v/θ⌋ spikes, subtraction)."""
    if reset == "default":
        return sinabs.layers.IAFSqueeze(spike_threshold=torch.tensor(theta), num_timesteps=T)
    return sinabs.layers.IAFSqueeze(
        spike_threshold=torch.tensor(theta),
        spike_fn=SingleSpike,
        reset_fn=MembraneReset() if reset == "zero" else MembraneSubtract(),
        min_v_mem=None,
        num_timesteps=T,
    )


def on_grid(module: torch.nn.Module, rng) -> torch.nn.Module:
    module.weight.data = torch.tensor(grid(rng, tuple(module.weight.shape), -0.5, 0.5, 0.125))
    module.bias.data = torch.tensor(grid(rng, tuple(module.bias.shape), -0.25, 0.5, 0.125))
    return module


def sinabs_mlp(seed: int, reset: str = "zero") -> tuple[torch.nn.Module, np.ndarray]:
    """Linear → IAF → Linear → IAF → Linear; thresholds powers of two, so that eventsim's reader
    (which measures the membrane in thresholds: the weights divided by θ) stays exact."""
    rng = np.random.default_rng(seed)
    model = torch.nn.Sequential(
        on_grid(torch.nn.Linear(10, 8), rng),
        sinabs_iaf(0.5, reset),
        on_grid(torch.nn.Linear(8, 6), rng),
        sinabs_iaf(2.0, reset),
        on_grid(torch.nn.Linear(6, 4), rng),
    )
    return model, grid(rng, (3, 10), 0.0, 1.0, 0.125)


def sinabs_cnn(seed: int, reset: str = "zero") -> tuple[torch.nn.Module, np.ndarray]:
    """Conv → IAF → 2x2 sum pool → conv → IAF → flatten → linear."""
    rng = np.random.default_rng(seed)
    model = torch.nn.Sequential(
        on_grid(torch.nn.Conv2d(2, 4, 3, padding=1), rng),
        sinabs_iaf(0.5, reset),
        sinabs.layers.SumPool2d(2),
        on_grid(torch.nn.Conv2d(4, 3, 3, padding=1), rng),
        sinabs_iaf(2.0, reset),
        torch.nn.Flatten(),
        on_grid(torch.nn.Linear(27, 4), rng),
    )
    return model, grid(rng, (3, 2, 6, 6), 0.0, 1.0, 0.125)


def frames(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.repeat(x[:, None], T, axis=1).reshape((-1,) + x.shape[1:]))


def sinabs_to_nir(model: torch.nn.Module, x: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # sinabs calls nirtorch.extract_nir_graph
        graph = sinabs.to_nir(model, frames(x))
    sinabs.reset_states(model)
    return graph


def assert_eventsim_runs_it(graph, model: torch.nn.Module, x: np.ndarray, reset: str) -> None:
    """eventsim's network read from ``graph`` (``reset`` as the model's layers) spikes in every layer
    and step as ``model`` does, and its output accumulated over the steps equals sinabs'."""
    net = from_nir(graph, reset=reset)
    recorded = {}
    for name, module in model.named_children():
        if isinstance(module, sinabs.layers.IAF):
            module.register_forward_hook(lambda m, args, out, name=name: recorded.__setitem__(name, out))
    with torch.no_grad():
        outputs = model(frames(x)).reshape(len(x), T, -1).numpy()
    ours = eventsim.simulate(net, x, T, engine="reference", raster_samples=range(len(x)))
    assert sorted(recorded) == sorted(net.layer_names)
    for name, spikes in recorded.items():
        spikes = spikes.reshape((len(x), T) + spikes.shape[1:]).numpy()
        assert set(np.unique(spikes)) <= {0.0, 1.0}
        for sample in range(len(x)):
            assert np.array_equal(spikes[sample] == 1, ours.rasters[sample][name]), (name, sample)
    assert ours.spikes_per_sample.sum() > 0
    np.testing.assert_array_equal(np.cumsum(outputs, axis=1), ours.outputs)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("seed", range(3))
def test_sinabs_mlp_runs_the_same_in_eventsim(tmp_path, seed, reset):
    model, x = sinabs_mlp(seed, reset)
    nir.write(str(tmp_path / "sinabs.nir"), sinabs_to_nir(model, x))
    assert_eventsim_runs_it(nir.read(str(tmp_path / "sinabs.nir")), model, x, reset)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("seed", range(3))
def test_sinabs_conv_net_runs_the_same_in_eventsim(tmp_path, seed, reset):
    """In memory: sinabs writes its Conv2d with input_shape None, which ``nir.write`` cannot store."""
    model, x = sinabs_cnn(seed, reset)
    graph = sinabs_to_nir(model, x)
    with pytest.raises(TypeError):
        nir.write(str(tmp_path / "sinabs.nir"), graph)
    assert_eventsim_runs_it(graph, model, x, reset)


def test_sinabs_export_drops_its_own_reset_rule():
    """sinabs' default IAF (⌊v/θ⌋ spikes, reset by subtraction) is written as the same NIR IF as one
    that resets to 0: what the file says, and eventsim runs, is not what sinabs ran."""
    default, x = sinabs_mlp(0, reset="default")
    nir_rule, _ = sinabs_mlp(0)
    written, expected = sinabs_to_nir(default, x), sinabs_to_nir(nir_rule, x)
    for key, node in written.nodes.items():
        if isinstance(node, nir.IF):
            assert np.array_equal(node.v_threshold, expected.nodes[key].v_threshold)
            assert np.array_equal(node.v_reset, expected.nodes[key].v_reset)
    with torch.no_grad():
        theirs = np.cumsum(default(frames(x)).reshape(len(x), T, -1).numpy(), axis=1)
    assert not np.array_equal(theirs, eventsim.simulate(from_nir(written), x, T, engine="reference").outputs)
