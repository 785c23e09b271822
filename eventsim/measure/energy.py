"""Energy estimates: operation counts × a cost table, for the SNN and its ANN under the same table.

The estimate is hardware-independent arithmetic, never a measurement: every figure is a count from
:mod:`eventsim.measure.counts` times a price from :mod:`eventsim.measure.energy_presets`, and the report states what
the table does not price (with the counts left out) and what no table counts.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

import numpy as np

from ..simulation.recording import Recording
from ..snn.network import SpikingNetwork
from .counts import Counts, ann_counts, snn_counts
from .energy_presets import DEFAULT_PRESET, NEVER_COUNTED, CostTable, get_cost_table


@dataclass
class NetworkEnergy:
    """Energy of one network (SNN or ANN) per sample under one table.

    Attributes
    ----------
    total_pj : float
        Sum of all priced terms.
    by_node : dict of str to dict of str to float
        pJ per node and term.
    by_term : dict of str to float
        pJ per term over all nodes.
    unpriced : dict of str to float
        Counts per sample of the terms the table does not price.
    per_step_pj : numpy.ndarray or None
        SNN: pJ spent in each step t = 1..T (terms known only in total are spread over no step and
        listed in ``total_only_pj``).
    """

    network: str
    total_pj: float
    by_node: dict[str, dict[str, float]]
    by_term: dict[str, float]
    unpriced: dict[str, float]
    per_step_pj: np.ndarray | None = None
    total_only_pj: float = 0.0

    def to_dict(self) -> dict:
        out = {
            "network": self.network,
            "total_pj": self.total_pj,
            "by_term_pj": self.by_term,
            "by_node_pj": self.by_node,
            "unpriced_counts": self.unpriced,
        }
        if self.per_step_pj is not None:
            out["cumulative_pj"] = np.cumsum(self.per_step_pj).tolist()
            out["total_only_pj"] = self.total_only_pj
        return out


@dataclass
class EnergyReport:
    """SNN and ANN energy per sample under one cost table (see :func:`energy_report`)."""

    table: CostTable
    snn: NetworkEnergy
    ann: NetworkEnergy
    snn_counts: Counts
    ann_counts: Counts
    not_counted: list[str] = field(default_factory=list)

    @property
    def ann_comparable(self) -> bool:
        """Whether the table prices the ANN's multiply-accumulates, so the two totals compare."""
        return "mac" not in self.ann.unpriced

    @property
    def ratio(self) -> float | None:
        """ANN energy / SNN energy (> 1: the SNN is cheaper), or None when not comparable."""
        if not self.ann_comparable or self.snn.total_pj == 0:
            return None
        return self.ann.total_pj / self.snn.total_pj

    def to_dict(self) -> dict:
        return {
            "preset": self.table.to_dict(),
            "snn": self.snn.to_dict(),
            "ann": self.ann.to_dict(),
            "ann_over_snn": self.ratio,
            "counts": {"snn": self.snn_counts.to_dict(), "ann": self.ann_counts.to_dict()},
            "not_counted": self.not_counted,
        }

    def text(self) -> str:
        """A per-layer table and the totals, with what is not counted."""
        nodes = list(dict.fromkeys(list(self.snn.by_node) + list(self.ann.by_node)))
        width = min(45, max((len(n) for n in nodes), default=10))
        lines = [f"energy per sample, preset {self.table.name}: {self.table.description}"]
        lines.append(f"{'node':{width}s} {'SNN nJ':>10s} {'ANN nJ':>10s}")
        for node in nodes:
            snn = sum(self.snn.by_node.get(node, {}).values()) / 1e3
            ann = sum(self.ann.by_node.get(node, {}).values()) / 1e3
            ann_text = f"{ann:10.3f}" if self.ann_comparable else f"{'n/a':>10s}"
            lines.append(f"{node[-width:]:{width}s} {snn:10.3f} {ann_text}")
        ann_total = f"{self.ann.total_pj / 1e3:10.3f}" if self.ann_comparable else f"{'n/a':>10s}"
        lines.append(f"{'total':{width}s} {self.snn.total_pj / 1e3:10.3f} {ann_total}")
        terms = sorted(set(self.snn.by_term) | set(self.ann.by_term))
        by_term = ", ".join(
            f"{t} {self.snn.by_term.get(t, 0) / 1e3:.3g}/{self.ann.by_term.get(t, 0) / 1e3:.3g}" for t in terms
        )
        lines.append(textwrap.fill(f"by term, SNN/ANN nJ: {by_term}", 110, subsequent_indent="  "))
        if self.ratio is not None:
            verdict = "less" if self.ratio > 1 else "more"
            factor = self.ratio if self.ratio > 1 else 1 / self.ratio
            lines.append(f"the SNN needs {factor:.2f}x {verdict} energy than the ANN under this preset")
        else:
            lines.append("the ANN is not priced by this preset (it has no MAC cost): no comparison")
        lines.append("not counted:")
        lines += [
            textwrap.fill(item, 110, initial_indent="  - ", subsequent_indent="    ") for item in self.not_counted
        ]
        lines.append(textwrap.fill(f"source: {self.table.source}", 110, subsequent_indent="  "))
        return "\n".join(lines)


def price_counts(counts: Counts, table: CostTable) -> NetworkEnergy:
    """Energy per sample of ``counts`` under ``table``: Σ count × price, per node and term."""
    by_node: dict[str, dict[str, float]] = {}
    by_term: dict[str, float] = {}
    unpriced: dict[str, float] = {}
    per_step = np.zeros(counts.T) if counts.T else None
    total_only = 0.0
    for row in counts.rows:
        price = table.price(row.term, row.memory_bytes)
        if price is None:
            unpriced[row.term] = unpriced.get(row.term, 0.0) + row.per_sample
            continue
        pj = row.per_sample * price
        node = by_node.setdefault(row.node, {})
        node[row.term] = node.get(row.term, 0.0) + pj
        by_term[row.term] = by_term.get(row.term, 0.0) + pj
        if per_step is not None:
            if row.per_step is None:
                total_only += pj
            else:
                per_step += row.per_step * price
    return NetworkEnergy(counts.network, float(sum(by_term.values())), by_node, by_term, unpriced, per_step, total_only)


def energy_report(net: SpikingNetwork, recording: Recording, preset: str | CostTable = DEFAULT_PRESET) -> EnergyReport:
    """Energy per sample of the simulated SNN and of its ANN under the same cost table.

    Parameters
    ----------
    net : SpikingNetwork
        The simulated network.
    recording : Recording
        Its recording; counts are per sample means over its samples, at its T.
    preset : str or CostTable
        A preset name from :data:`eventsim.measure.energy_presets.PRESETS` or a table
        (e.g. from :func:`~eventsim.measure.energy_presets.load_cost_table`).

    Returns
    -------
    EnergyReport
    """
    table = get_cost_table(preset) if isinstance(preset, str) else preset
    snn_c, ann_c = snn_counts(net, recording), ann_counts(net.graph)
    snn, ann = price_counts(snn_c, table), price_counts(ann_c, table)
    not_counted = list(table.not_counted) + list(NEVER_COUNTED)
    for name, energy in (("SNN", snn), ("ANN", ann)):
        if energy.unpriced:
            listed = ", ".join(f"{term} ({count:,.0f}/sample)" for term, count in energy.unpriced.items())
            not_counted.insert(0, f"{name} terms without a price in this table: {listed}")
    if recording.settings.get("encoding") == "rate":
        not_counted.append("generating the rate-coded input spikes")
    return EnergyReport(table, snn, ann, snn_c, ann_c, not_counted)


def summary_text(reports: list[EnergyReport]) -> str:
    """One line per cost table: SNN and ANN energy per sample and their ratio."""
    lines = [f"{'energy preset':20s} {'SNN nJ':>10s} {'ANN nJ':>10s} {'ANN/SNN':>8s}"]
    for r in reports:
        ann = f"{r.ann.total_pj / 1e3:10.3f}" if r.ratio is not None else f"{'n/a':>10s}"
        ratio = "" if r.ratio is None else f"{r.ratio:8.2f}"
        lines.append(f"{r.table.name:20s} {r.snn.total_pj / 1e3:10.3f} {ann} {ratio}")
    return "\n".join(lines)


def energy_text(reports: list[EnergyReport]) -> str:
    """The first report's per-layer table and what it does not count, then one line per cost table."""
    return reports[0].text() + "\n\n" + summary_text(reports)
