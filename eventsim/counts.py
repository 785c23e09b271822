"""Operation counts of a simulated spiking network and of its ANN, per node: what energy is priced on.

Every count is per sample (the mean over the simulated samples) and exact: SNN counts come from the
integers the engines counted (synaptic events, spikes) or from the graph's geometry (neuron updates,
multiply-accumulates of work done once per sample); nothing is estimated from a firing rate.

The counting model (what one unit of each term is) lives in :data:`TERMS`; the energy presets in
:mod:`eventsim.energy_presets` price these terms and nothing else.

SNN, per sample:

- a synaptic node (conv, dense, avgpool fed by events): ``sop`` per in-bounds target of each event
  (the engines' count), one ``weight_read`` per sop (not for avgpool, whose weight is a constant) and
  one ``potential_read`` + ``potential_write`` per sop (the target's accumulator is updated);
- a node computed once per sample from the direct-coded input (e.g. the first conv): ``mac`` per
  in-bounds product, one ``weight_read`` and one ``activation_read`` per mac, one
  ``activation_write`` per output (the stored current that later steps re-read as ``bias_read``);
- a neuron layer: ``neuron_update`` per neuron per step that is not idle in its kind's schedule
  (IF: every step; bistable and TTFS layers wait for their cycle or window), one
  ``potential_read`` + ``potential_write`` per update, one ``bias_read`` per update when the layer
  receives a constant current (bias, direct-coded input or temporal bias), and its ``spike`` count;
- the output accumulators: one ``add`` per output per step for their constant current (bias);
- a delay (BSNN's synchronous neurons): one ``potential_write`` and one ``potential_read`` of its
  buffer per relayed event;
- a max pool on spikes: one ``add`` (a comparison) per in-bounds window position of each incoming
  spike; counted in total, not per step.

ANN, per sample, with the same conventions: ``mac`` per in-bounds product of conv/dense, one
``weight_read`` and one ``activation_read`` per mac, one ``bias_read`` and ``activation_write`` per
output; avgpool/maxpool ``add`` per in-bounds window element with its ``activation_read`` and an
``activation_write`` per output; a residual ``add`` per output and extra operand; ``neuron_update``
per activation evaluated (its output is written by the node before it). Products with padded zeros
are not counted on either side (graph summaries show the conventional MACs that include them).

Not counted on either side: the input normalisation, reshapes/concats (addressing only), the final
argmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engines.plan import SYNAPTIC_OPS, Plan, fanout_counts
from .graph import Graph, Node
from .network import SpikingNetwork
from .neurons import IDLE
from .recording import Recording

#: Bytes of one stored value (weights, potentials, activations) when sizing memories.
WORD_BYTES = 4

#: The count terms, what one unit of each is. Energy presets price these.
TERMS = {
    "sop": "synaptic operation: one accumulate of a weight into one target, caused by one event",
    "mac": "multiply-accumulate of a weight and an analog value",
    "add": "addition or comparison outside synaptic events (pooling sums/maxima, residual sums, output bias)",
    "neuron_update": "one neuron in one step (SNN: add current, compare, reset) or one activation (ANN)",
    "spike": "one spike emitted by a neuron (what a chip routes)",
    "weight_read": "reading one weight from the memory holding the node's weights",
    "bias_read": "reading one constant current or bias value",
    "potential_read": "reading one membrane potential or accumulator",
    "potential_write": "writing one membrane potential or accumulator",
    "activation_read": "reading one analog activation (ANN; direct-coded SNN input)",
    "activation_write": "writing one analog activation",
}

#: Terms that are memory accesses: a cost model may price them by the size of the memory.
MEMORY_TERMS = ("weight_read", "bias_read", "potential_read", "potential_write", "activation_read", "activation_write")


@dataclass
class CountRow:
    """One term of one node.

    Attributes
    ----------
    node : str
        Graph node the work belongs to.
    term : str
        Key of :data:`TERMS`.
    per_sample : float
        Mean count per sample.
    per_step : numpy.ndarray or None
        Mean count per sample in each step t = 1..T (sums to ``per_sample``); None where only the
        total is known (max pooling on spikes) and for the ANN.
    memory_bytes : int or None
        Size of the memory a memory term accesses (for size-dependent access costs).
    """

    node: str
    term: str
    per_sample: float
    per_step: np.ndarray | None = None
    memory_bytes: int | None = None


@dataclass
class Counts:
    """Operation counts of one network, per node and term (see the module docstring)."""

    network: str  # "snn" or "ann"
    rows: list[CountRow]
    T: int | None = None

    def total(self, term: str) -> float:
        """Per-sample count of ``term`` over all nodes."""
        return float(sum(r.per_sample for r in self.rows if r.term == term))

    def by_term(self) -> dict[str, float]:
        """Per-sample totals of every term that occurs."""
        out: dict[str, float] = {}
        for row in self.rows:
            out[row.term] = out.get(row.term, 0.0) + row.per_sample
        return out

    def nodes(self) -> list[str]:
        """Nodes with counted work, in graph order of first appearance."""
        return list(dict.fromkeys(r.node for r in self.rows))

    def to_dict(self) -> dict:
        """JSON-friendly: per node, per term, the per-sample count."""
        out: dict[str, dict[str, float]] = {}
        for row in self.rows:
            out.setdefault(row.node, {})[row.term] = row.per_sample
        return {"network": self.network, "T": self.T, "per_sample": out, "totals": self.by_term()}


def _size(shape) -> int:
    return int(np.prod(shape)) * WORD_BYTES


def in_bounds_products(graph: Graph, node: Node) -> int:
    """Products with a real (not padded) input of one sample's pass through a conv, dense or pool."""
    return int(fanout_counts(graph, node.name).sum())


def _first_step(value: float, T: int) -> np.ndarray:
    """Per-step counts of work done once per sample, in step 1."""
    per_step = np.zeros(T)
    per_step[0] = value
    return per_step


def ann_counts(graph: Graph) -> Counts:
    """Per-sample operation counts of the ANN computation of ``graph`` (see the module docstring)."""
    rows: list[CountRow] = []
    for node in graph.nodes:
        out = int(np.prod(node.shape))
        src_bytes = _size(graph.node(node.inputs[0]).shape) if node.inputs else None
        if node.op in ("conv", "dense"):
            macs = in_bounds_products(graph, node)
            rows += [
                CountRow(node.name, "mac", macs),
                CountRow(node.name, "weight_read", macs, memory_bytes=_size(node.params["W"].shape)),
                CountRow(node.name, "activation_read", macs, memory_bytes=src_bytes),
                CountRow(node.name, "activation_write", out, memory_bytes=_size(node.shape)),
            ]
            if np.any(node.params["b"] != 0):
                rows.append(CountRow(node.name, "bias_read", out, memory_bytes=_size(node.params["b"].shape)))
        elif node.op in ("avgpool", "maxpool"):
            adds = in_bounds_products(graph, node)
            rows += [
                CountRow(node.name, "add", adds),
                CountRow(node.name, "activation_read", adds, memory_bytes=src_bytes),
                CountRow(node.name, "activation_write", out, memory_bytes=_size(node.shape)),
            ]
        elif node.op == "add":
            rows += [
                CountRow(node.name, "add", out * (len(node.inputs) - 1)),
                CountRow(node.name, "activation_read", out * len(node.inputs), memory_bytes=src_bytes),
                CountRow(node.name, "activation_write", out, memory_bytes=_size(node.shape)),
            ]
        elif node.spec.role == "activation":
            rows.append(CountRow(node.name, "neuron_update", out))
    return Counts("ann", [r for r in rows if r.per_sample], None)


def _constant_current(plan: Plan, layer: str) -> bool:
    """Whether neuron layer ``layer`` receives a current that is not carried by spikes."""
    net, graph = plan.net, plan.graph
    if net.layers[layer].temporal_bias is not None and np.any(net.layers[layer].temporal_bias != 0):
        return True
    source = graph.node(layer).inputs[0]
    shared = plan.shared_static()
    return source not in shared or bool(np.any(shared[source] != 0))


def snn_counts(net: SpikingNetwork, recording: Recording) -> Counts:
    """Per-sample operation counts of the run in ``recording`` of ``net`` (see the module docstring).

    Parameters
    ----------
    net : SpikingNetwork
        The network that was simulated.
    recording : Recording
        Its recording (any engine; both count the same).
    """
    graph = net.graph
    plan = Plan.build(net, recording.settings.get("encoding", "direct"))
    if plan.layers != list(recording.layers) or plan.synaptic != list(recording.synaptic_nodes):
        raise ValueError("the recording was not made with this network")
    n, T = max(recording.samples, 1), recording.T
    shared = plan.shared_static_names()
    phases = net.phases(T)
    rows: list[CountRow] = []
    sop_index = {name: k for k, name in enumerate(recording.synaptic_nodes)}
    layer_index = {name: k for k, name in enumerate(recording.layers)}
    for node in graph.nodes:
        name, out = node.name, int(np.prod(node.shape))
        if node.op in SYNAPTIC_OPS and name not in shared:
            # work on the direct-coded input: done once per sample, in step 1
            products = in_bounds_products(graph, node)
            term = "mac" if node.op != "avgpool" else "add"
            src_bytes = _size(graph.node(node.inputs[0]).shape)
            rows.append(CountRow(name, term, products, _first_step(products, T)))
            if node.op != "avgpool":
                rows.append(
                    CountRow(name, "weight_read", products, _first_step(products, T), _size(node.params["W"].shape))
                )
            rows.append(CountRow(name, "activation_read", products, _first_step(products, T), src_bytes))
            rows.append(CountRow(name, "activation_write", out, _first_step(out, T), _size(node.shape)))
        if name in sop_index and node.op == "delay":
            # a synchronous neuron's buffer: each relayed event is written once and read once
            per_step = recording.sops_per_step[sop_index[name]] / n
            events, memory = float(per_step.sum()), _size(node.shape) * node.attrs["steps"]
            rows.append(CountRow(name, "potential_write", events, per_step, memory))
            rows.append(CountRow(name, "potential_read", events, per_step, memory))
        elif name in sop_index:
            k = sop_index[name]
            per_step = recording.sops_per_step[k] / n
            sops = float(per_step.sum())
            rows.append(CountRow(name, "sop", sops, per_step))
            if node.op != "avgpool":
                rows.append(CountRow(name, "weight_read", sops, per_step, _size(node.params["W"].shape)))
            rows.append(CountRow(name, "potential_read", sops, per_step, _size(node.shape)))
            rows.append(CountRow(name, "potential_write", sops, per_step, _size(node.shape)))
        if name in layer_index:
            k = layer_index[name]
            per_step = float(out) * (phases[k] != IDLE)  # idle phases (bistable, TTFS) update nothing
            updates = float(per_step.sum())
            rows.append(CountRow(name, "neuron_update", updates, per_step))
            rows.append(CountRow(name, "potential_read", updates, per_step, _size(node.shape)))
            rows.append(CountRow(name, "potential_write", updates, per_step, _size(node.shape)))
            if _constant_current(plan, name):
                rows.append(CountRow(name, "bias_read", updates, per_step, _size(node.shape)))
            spikes = recording.spikes_per_step[k] / n
            rows.append(CountRow(name, "spike", float(spikes.sum()), spikes))
        if node.op == "maxpool" and plan.dynamic[name]:
            rows += _maxpool_rows(graph, node, recording, n)
    output = graph.node(graph.output)
    if output.spec.role != "activation" and plan.dynamic[output.name]:
        source_static = plan.shared_static().get(output.name)
        if source_static is None or np.any(source_static != 0):
            k = int(np.prod(output.shape))
            per_step = np.full(T, float(k))
            rows.append(CountRow(output.name, "add", k * T, per_step))
            rows.append(CountRow(output.name, "potential_read", k * T, per_step, _size(output.shape)))
            rows.append(CountRow(output.name, "potential_write", k * T, per_step, _size(output.shape)))
    return Counts("snn", [r for r in rows if r.per_sample], T)


def _maxpool_rows(graph: Graph, node: Node, recording: Recording, n: int) -> list[CountRow]:
    """Comparisons of a max pool on spikes, from the per-neuron counts of the layer feeding it."""
    source = node.inputs[0]
    if source not in recording.neuron_counts:
        return []  # fed through a reshape or concat: no per-position counts (documented as not counted)
    compares = float((recording.neuron_counts[source] * fanout_counts(graph, node.name)).sum()) / n
    return [CountRow(node.name, "add", compares)]
