"""The cost model that picks, per layer and chunk, event scatter or a dense BLAS product.

Both methods give the same sums (exactly so when the values are exact in float32), so the choice is
only about time. For ``R`` rows (step, sample pairs) of a conv or dense node whose output rows are
``width`` wide:

- events: ``sops · sop(width) + R · (inputs · scan + outputs · scan)``: every synaptic event is a
  multiply-add into a row of ``width`` contiguous outputs, and every input is scanned and every
  output written once;
- dense: ``R · macs · mac(width)``: the op's own forward (im2col and one BLAS product), whose cost
  per multiply-accumulate depends mostly on how wide the product's output rows are (BLAS is poor on
  rows of a few channels).

``sop``, ``mac`` and ``scan`` are measured on this machine once, by timing the engine's own kernels
and the ops' own forwards on small synthetic layers (about a second), and cached in a JSON file
(:func:`cache_path`). Pass ``costs=`` to the engine, or set ``EVENTSIM_LAYER_COSTS`` to a JSON file
of the same form, to override them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np

from ...errors import DataError

#: Output row widths at which the per-event and per-MAC costs are measured.
WIDTHS = (4, 16, 64, 256)
_VERSION = 3


@dataclass(frozen=True)
class Costs:
    """Measured seconds per unit of work (module docstring); per lowering kernel (``conv``,
    ``dense``) one value per width of :data:`WIDTHS`."""

    sop: dict[str, list[float]]
    mac: dict[str, list[float]]
    scan: float
    threads: int

    def per_width(self, table: dict[str, list[float]], kernel: str, width: int) -> float:
        """A table's cost at ``width``, interpolated in log-log between the measured widths."""
        x = np.log2(np.clip(width, WIDTHS[0], WIDTHS[-1]))
        return float(np.exp2(np.interp(x, np.log2(WIDTHS), np.log2(table[kernel]))))

    def of(self, methods) -> NodeCosts:
        """The costs of one node's :class:`~.linear.LinearMethods`, looked up once."""
        return NodeCosts(
            self.per_width(self.sop, methods.kernel, methods.width),
            self.per_width(self.mac, methods.kernel, methods.width) * methods.macs,
            self.scan * (methods.inputs + methods.outputs),
        )

    @classmethod
    def from_dict(cls, data: dict) -> Costs:
        try:
            costs = cls(
                {k: [float(v) for v in data["sop"][k]] for k in ("conv", "dense")},
                {k: [float(v) for v in data["mac"][k]] for k in ("conv", "dense")},
                float(data["scan"]),
                int(data["threads"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"the layer engine's cost table is malformed ({exc!r})", "delete it to measure again"
            ) from None
        tables = [*costs.sop.values(), *costs.mac.values()]
        values = [v for table in tables for v in table] + [costs.scan]
        if any(len(table) != len(WIDTHS) for table in tables) or not all(np.isfinite(v) and v > 0 for v in values):
            raise DataError("the layer engine's cost table has missing, negative or infinite costs", "delete it")
        return costs


@dataclass(frozen=True)
class NodeCosts:
    """Predicted seconds of one node: per synaptic event, per row by BLAS, per row scanned by events."""

    per_event: float
    per_dense_row: float
    per_scanned_row: float

    def choose(self, rows: int, sops: int) -> str:
        """``"events"`` or ``"dense"`` for ``rows`` rows carrying ``sops`` synaptic events."""
        events = sops * self.per_event + rows * self.per_scanned_row
        return "events" if events <= rows * self.per_dense_row else "dense"


def cache_path() -> Path:
    """Where the measured costs of this machine and thread count are kept: ``EVENTSIM_CACHE_DIR`` or
    ``~/.cache/eventsim``."""
    root = Path(os.environ.get("EVENTSIM_CACHE_DIR") or Path.home() / ".cache" / "eventsim")
    return root / f"layer-costs-v{_VERSION}-{os.uname().nodename}-{numba.get_num_threads()}threads.json"


_MEMO: dict[str, Costs] = {}


def machine_costs() -> Costs:
    """The costs of this machine: ``EVENTSIM_LAYER_COSTS`` if set, else the cached measurement, else
    measured now (and cached; a cache that cannot be written is skipped)."""
    override = os.environ.get("EVENTSIM_LAYER_COSTS")
    path = Path(override) if override else cache_path()
    key = str(path)
    if key in _MEMO:
        return _MEMO[key]
    costs = None
    if path.is_file():
        try:
            costs = Costs.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, DataError):
            if override:
                raise DataError(f"EVENTSIM_LAYER_COSTS={override} is not a readable cost table") from None
    if costs is None:
        if override:
            raise DataError(f"EVENTSIM_LAYER_COSTS={override} does not exist", "unset it to measure the costs")
        costs = measure()
        _save(path, costs)
    _MEMO[key] = costs
    return costs


def _save(path: Path, costs: Costs) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(asdict(costs)))
        temporary.replace(path)  # atomic: parallel test workers may race
    except OSError:
        pass


def _best(fn, repeats: int = 3) -> float:
    fn()  # compile, warm the caches
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def measure() -> Costs:
    """Time the engine's kernels and the ops' forwards on synthetic layers (module docstring)."""
    from .calibration import conv_layer, dense_layer

    sop: dict[str, list[float]] = {"conv": [], "dense": []}
    mac: dict[str, list[float]] = {"conv": [], "dense": []}
    scans = []
    for kernel, make in (("conv", conv_layer), ("dense", dense_layer)):
        for width in WIDTHS:
            layer = make(width)
            empty = _best(layer.run_events_empty)
            events = _best(layer.run_events)
            scans.append(empty / (layer.rows * (layer.inputs + layer.outputs)))
            sop[kernel].append(max(events - empty, 0.05 * events) / layer.sops)
            mac[kernel].append(_best(layer.run_dense) / (layer.rows * layer.macs))
    return Costs(sop, mac, float(np.median(scans)), numba.get_num_threads())
