"""What a calibration holds at its peak, estimated before it allocates anything that grows with T or
with the data, and refused with the simulation's budget and message
(:func:`eventsim.simulation.memory.require_memory`) when it would not fit.

The stages run one after the other and free what they held, so the need is the largest stage's:

- thresholds from data: per batch of ``batch_size`` samples the ANN's activations of every layer
  (the executor's values of every node), and the percentile reservoirs;
- OPI (optimised v0) and FTBC: one layer-by-layer pass (:func:`~.currents.calibrate_layers`) over
  T steps of their samples, which holds every node's dynamic part over the T steps, (T, N) + shape,
  until its consumers have run, and at each neuron layer its input currents, FTBC's errors (or a
  contiguous copy of currents that do not change from step to step) and the layer's spikes — walked
  here in the pass's own order, with the pass's own rule of freeing; plus the ANN's activations of
  the batch, the static parts of every node, and OPI's candidate counts (parts of at most
  :data:`~.opi.GRID_PART_BYTES`).
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..simulation.memory import require_memory
from ..snn.split import dynamic_nodes
from .opi import GRID_PART_BYTES
from .presets import thresholds_from_data

#: Bytes of a float32.
FLOAT = 4

#: Candidate v0 of OPI's grid (:func:`~.opi.optimize_v0`).
OPI_GRID = 65

#: Values a percentile reservoir keeps per layer (:func:`~.thresholds.data_thresholds`' ``max_values``).
RESERVOIR = 2**22


def _size(graph: Graph, name: str) -> int:
    return int(np.prod(graph.node(name).shape))


def layer_pass_units(graph: Graph, method: str) -> int:
    """The most float32 values per (step, sample) that one layer-by-layer calibration pass of
    ``method`` (``"ftbc"`` or ``"opi"``) holds at once: a walk of
    :meth:`~eventsim.snn.dynamics.DenseDynamics.run_layers` over ``graph`` with direct coding."""
    dynamic = dynamic_nodes(graph, False)
    left = {node.name: 0 for node in graph.nodes}
    for node in graph.nodes:
        for source in node.inputs:
            left[source] += 1
    held: dict[str, int] = {}
    peak = 0
    for node in graph.nodes:
        if not dynamic[node.name]:
            continue
        size, kept = _size(graph, node.name), sum(held.values())
        if node.spec.role == "activation":
            still = not dynamic[node.inputs[0]]  # currents the same in every step: copied to be contiguous
            settle = size * (1 + still + (method == "ftbc"))  # currents (+ their copy) (+ FTBC's errors)
            peak = max(peak, kept + settle, kept + size)  # then the spikes, (T, N) + shape
        else:
            zeros = sum(_size(graph, i) for i in node.inputs if not dynamic[i])  # static inputs as zeros
            peak = max(peak, kept + zeros + size)
        held[node.name] = size
        for source in node.inputs:
            left[source] -= 1
            if left[source] == 0:
                held.pop(source, None)
    return peak


def _ann_bytes(graph: Graph, batch: int) -> int:
    """Bytes of one ANN batch that records its activations (:func:`~eventsim.ir.executor.run_ann`):
    every node's value, the activations recorded, and the largest op's transient work (im2col: its
    ``work_bytes`` counts two copies of the columns where the forward holds one at a time)."""
    values = sum(_size(graph, n.name) for n in graph.activation_nodes())
    values += sum(_size(graph, n.name) for n in graph.nodes)
    shapes = {node.name: node.shape for node in graph.nodes}
    work = max(
        (n.spec.work_bytes(n, [shapes[i] for i in n.inputs]) for n in graph.nodes if n.spec.role != "input"), default=0
    )
    return min(batch, 256) * (FLOAT * values + int(work) // 2)


def _reservoir_bytes(graph: Graph, samples: int) -> int:
    """Bytes of the percentile reservoirs (at most :data:`RESERVOIR` values per layer, no more than the
    layer's values over the samples), and the copy growing the largest one makes."""
    held = [FLOAT * min(RESERVOIR, samples * _size(graph, n.name)) for n in graph.activation_nodes()]
    return sum(held) + max(held, default=0)


def calibration_parts(graph: Graph, settings: dict, T: int | None, samples: int) -> dict[str, int]:
    """The peak bytes of each calibration stage that ``settings`` (resolved) run on ``samples``
    calibration samples for ``T`` steps, by stage; the need is the largest (the stages run one after
    the other)."""
    parts: dict[str, int] = {}
    if thresholds_from_data(settings, graph):
        batch = min(int(settings["batch_size"]), samples)
        reservoirs = _reservoir_bytes(graph, samples) if settings["threshold"] == "percentile" else 0
        parts["thresholds"] = _ann_bytes(graph, batch) + reservoirs
    statics = FLOAT * sum(_size(graph, n.name) for n in graph.nodes)
    if settings["v0"] == "optimized":
        n = min(int(settings["opi_samples"]), samples)
        largest = max((_size(graph, a.name) for a in graph.activation_nodes()), default=0)
        per_fraction = FLOAT * n * largest
        grid = min(OPI_GRID, max(1, GRID_PART_BYTES // max(1, per_fraction))) * per_fraction
        parts["OPI"] = FLOAT * int(T) * n * layer_pass_units(graph, "opi") + _ann_bytes(graph, n) + n * statics + grid
    if settings["ftbc"]:
        n = min(int(settings["ftbc_batch_size"]), samples)
        parts["FTBC"] = FLOAT * int(T) * n * layer_pass_units(graph, "ftbc") + _ann_bytes(graph, n) + n * statics
    return parts


def check_calibration_memory(graph: Graph, settings: dict, T: int | None, samples: int, what: str = "") -> int:
    """Refuse a calibration whose largest stage (:func:`calibration_parts`) would not fit in the memory
    budget; returns the need in bytes (0 when nothing grows with T or the data)."""
    parts = calibration_parts(graph, settings, T, samples)
    if not parts:
        return 0
    stage = max(parts, key=parts.get)
    counts = {
        "OPI": f"{min(int(settings['opi_samples']), samples)} samples",
        "FTBC": f"batches of {min(int(settings['ftbc_batch_size']), samples)} samples",
        "thresholds": f"batches of {min(int(settings['batch_size']), samples)} samples",
    }
    fixes = {
        "OPI": "use a smaller T (-T), or fewer OPI samples (opi_samples=N in Python, or fewer calibration samples)",
        "FTBC": "use a smaller T (-T) or smaller FTBC batches (--ftbc-batch-size)",
        "thresholds": "use smaller batches for the threshold statistics (batch_size=N in Python)",
    }
    at = f" for T={T}" if stage != "thresholds" else ""
    return require_memory(
        f"{what or 'calibration'} ({stage} on {counts[stage]}{at})",
        {f"{name} calibration" if name != "thresholds" else name: count for name, count in parts.items()},
        fixes[stage],
        need=parts[stage],
    )
