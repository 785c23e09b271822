"""Operation counts of a simulated spiking network and of its ANN, per node: what energy is priced on.

Every count is per sample (the mean over the simulated samples) and exact: SNN counts come from the
integers the engines counted (synaptic events, spikes) or from the graph's geometry (neuron updates,
multiply-accumulates of work done once per sample); nothing is estimated from a firing rate.

The counting model (what one unit of each term is) lives in :data:`TERMS`; each op's spec states
its node's counts in these terms (``OpSpec.ann_counts``, ``OpSpec.snn_counts``), this module adds the
neuron layers and the output; the energy presets in :mod:`eventsim.measure.energy_presets` price
these terms and nothing else.

SNN, per sample:

- a synaptic node (conv, dense, avgpool fed by events): ``sop`` per in-bounds target of each event
  (the engines' count) — a ``mac`` instead when the events may come from a layer of bursts (a kind
  with graded spikes: one event carries k spikes, and the synapse multiplies its weight by k), one
  ``weight_read`` per sop (not for avgpool, whose weight is a constant) and one ``potential_read``
  + ``potential_write`` per sop (the target's accumulator is updated);
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

Not counted on either side: the input normalisation, reshapes/concats/upsampling (addressing only),
the final argmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph
from ..ir.ops.counting import WORD_BYTES, Count, SnnCountContext, nbytes
from ..simulation.plan import SimulationPlan
from ..simulation.recording import Recording
from ..snn.kinds import IDLE
from ..snn.network import SpikingNetwork

__all__ = ["TERMS", "MEMORY_TERMS", "WORD_BYTES", "CountRow", "Counts", "ann_counts", "snn_counts"]

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
class CountRow(Count):
    """One term of one node: a :class:`~eventsim.ir.ops.counting.Count` with the node's name.

    Attributes
    ----------
    node : str
        Graph node the work belongs to.
    """

    node: str = ""

    @classmethod
    def of(cls, node: str, count: Count) -> CountRow:
        return cls(count.term, count.per_sample, count.per_step, count.memory_bytes, node)


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


def ann_counts(graph: Graph) -> Counts:
    """Per-sample operation counts of the ANN computation of ``graph`` (see the module docstring)."""
    rows = [CountRow.of(node.name, c) for node in graph.nodes for c in node.spec.ann_counts(node, graph)]
    return Counts("ann", [r for r in rows if r.per_sample], None)


def _layer_rows(plan: SimulationPlan, name: str, recording: Recording, n: int) -> list[Count]:
    """A neuron layer: an update (with a read and a write of its potential, and a read of its constant
    current if it has one) per neuron and step that is not idle in its kind's schedule, and its spikes."""
    k = plan.layers.index(name)
    shape = plan.graph.node(name).shape
    per_step = float(np.prod(shape)) * (plan.phases[k] != IDLE)
    updates = float(per_step.sum())
    rows = [
        Count("neuron_update", updates, per_step),
        Count("potential_read", updates, per_step, nbytes(shape)),
        Count("potential_write", updates, per_step, nbytes(shape)),
    ]
    if _constant_current(plan, name):
        rows.append(Count("bias_read", updates, per_step, nbytes(shape)))
    spikes = recording.spikes_per_step[k] / n
    return rows + [Count("spike", float(spikes.sum()), spikes)]


def _constant_current(plan: SimulationPlan, layer: str) -> bool:
    """Whether neuron layer ``layer`` receives a current that is not carried by spikes."""
    bias = plan.net.layers[layer].temporal_bias
    if bias is not None and np.any(bias != 0):
        return True
    source = plan.graph.node(layer).inputs[0]
    return source not in plan.shared or bool(np.any(plan.shared[source] != 0))


def _output_rows(plan: SimulationPlan) -> list[Count]:
    """The output accumulators: an add (with a read and a write) per output and step for their
    constant current, when spikes reach the output and it has one."""
    output = plan.graph.node(plan.graph.output)
    if output.spec.role == "activation" or not plan.dynamic[output.name]:
        return []
    constant = plan.shared.get(output.name)
    if constant is not None and not np.any(constant != 0):
        return []
    k, T = int(np.prod(output.shape)), plan.T
    per_step = np.full(T, float(k))
    return [
        Count("add", k * T, per_step),
        Count("potential_read", k * T, per_step, nbytes(output.shape)),
        Count("potential_write", k * T, per_step, nbytes(output.shape)),
    ]


def _node_context(plan: SimulationPlan, name: str, recording: Recording, n: int) -> SnnCountContext:
    """What node ``name``'s op needs to count its work in this run."""
    graph = plan.graph
    node = graph.node(name)
    events = None
    if name in plan.synaptic:
        events = recording.sops_per_step[plan.synaptic.index(name)] / n
    source = node.inputs[0] if node.inputs else None
    spikes = recording.neuron_counts[source] / n if source in recording.neuron_counts else None
    return SnnCountContext(
        [graph.node(i).shape for i in node.inputs],
        plan.T,
        once_per_sample=node.spec.role == "synaptic" and name not in plan.shared,
        events_per_step=events,
        input_spikes=spikes,
        graded=events is not None and _graded_events(plan, name),
    )


def _graded_events(plan: SimulationPlan, name: str) -> bool:
    """Whether the events reaching node ``name`` may come from a layer whose kind emits several
    spikes in one event (:attr:`~eventsim.snn.kinds.base.NeuronKind.graded`): the neuron layers its
    input is routed from, through the ops between (pools, adds, reshapes)."""
    graph, seen = plan.graph, set()
    todo = list(graph.node(name).inputs)
    while todo:
        source = graph.node(todo.pop())
        if source.name in seen or not plan.dynamic[source.name]:
            continue
        seen.add(source.name)
        if source.spec.role == "activation":
            if plan.net.layers[source.name].spec.graded:
                return True
        elif source.name not in plan.synaptic:  # an op with events of its own sends what it computes
            todo += source.inputs
    return False


def snn_counts(net: SpikingNetwork, recording: Recording) -> Counts:
    """Per-sample operation counts of the run in ``recording`` of ``net`` (see the module docstring).

    Parameters
    ----------
    net : SpikingNetwork
        The network that was simulated.
    recording : Recording
        Its recording (any engine; both count the same).
    """
    plan = SimulationPlan.build(net, recording.T, recording.settings.get("encoding", "direct"))
    if list(plan.layers) != list(recording.layers) or list(plan.synaptic) != list(recording.synaptic_nodes):
        raise ValueError("the recording was not made with this network")
    n = max(recording.samples, 1)
    rows: list[CountRow] = []
    for node in net.graph.nodes:
        if node.spec.role == "activation":
            counts = _layer_rows(plan, node.name, recording, n)
        else:
            counts = node.spec.snn_counts(node, _node_context(plan, node.name, recording, n))
        rows += [CountRow.of(node.name, c) for c in counts]
    rows += [CountRow.of(plan.graph.output, c) for c in _output_rows(plan)]
    return Counts("snn", [r for r in rows if r.per_sample], recording.T)
