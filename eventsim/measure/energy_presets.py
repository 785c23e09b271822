"""Energy cost tables: the one place where every preset's prices and their published sources live.

A :class:`CostTable` prices the count terms of :mod:`eventsim.measure.counts` (``sop``, ``mac``, ``add``,
``neuron_update``, ``spike`` and the memory accesses) in picojoules. A term a table does not price is
not counted, and reports list it with its count. Memory accesses are priced either by a fixed cost
per access (``costs``) or by the size of the memory accessed (``sram``: pJ per 64-bit access at
given memory sizes, interpolated linearly in log2(size), clamped at both ends; an access of a
``word_bits`` value costs ``word_bits / 64`` of a 64-bit access).

Users pass their own table as a JSON or TOML file (see :func:`load_cost_table`)::

    {"name": "my-chip", "source": "datasheet v2",
     "costs_pj": {"sop": 0.5, "mac": 2.0, "neuron_update": 0.3},
     "sram_pj_per_64bit": [[8192, 10.0], [1048576, 100.0]], "word_bits": 32,
     "not_counted": ["off-chip DRAM"]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, ModelFileError
from .counts import MEMORY_TERMS, TERMS

#: SRAM read/write energy per 64-bit access at 45 nm by memory size (Horowitz, ISSCC 2014:
#: 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ), the figures Lemaire et al. (ICONIP 2022) price memory with.
SRAM_45NM = ((8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0))

#: What no preset counts; every report prints it.
NEVER_COUNTED = (
    "static (leakage) power and clocking",
    "off-chip DRAM traffic (weights and data are assumed to sit in on-chip memory)",
    "control, instruction fetch and data-movement beyond the priced accesses",
)


@dataclass(frozen=True)
class CostTable:
    """Prices of the count terms, in picojoules.

    Attributes
    ----------
    name : str
    description : str
        What the table models, in one line.
    source : str
        The publication the prices come from.
    costs : mapping of str to float
        pJ per unit of a term (keys from :data:`eventsim.measure.counts.TERMS`).
    sram : tuple of (bytes, pJ) pairs
        Size-dependent price of a 64-bit access, for memory terms not in ``costs``.
    word_bits : int
        Width of one stored value.
    not_counted : tuple of str
        What this table leaves out beyond :data:`NEVER_COUNTED` and its unpriced terms.
    """

    name: str
    description: str
    source: str
    costs: Mapping[str, float]
    sram: tuple[tuple[int, float], ...] = ()
    word_bits: int = 32
    not_counted: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.costs) - set(TERMS))
        if unknown:
            raise DataError(
                f"cost table {self.name!r} prices unknown terms {unknown}",
                f"use terms from: {', '.join(TERMS)}",
            )
        values = list(self.costs.values()) + [pj for _, pj in self.sram]
        if any(not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 for v in values):
            raise DataError(f"cost table {self.name!r} has a negative or non-finite price", "use prices ≥ 0 in pJ")
        if any(size <= 0 for size, _ in self.sram) or list(self.sram) != sorted(self.sram):
            raise DataError(
                f"cost table {self.name!r}: memory sizes must be positive and increasing",
                "list [bytes, pJ] pairs from the smallest memory to the largest",
            )
        if self.word_bits <= 0:
            raise DataError(f"cost table {self.name!r}: word_bits must be positive")

    def price(self, term: str, memory_bytes: int | None = None) -> float | None:
        """pJ of one unit of ``term`` (for a memory term, in a memory of ``memory_bytes``), or None
        when the table does not price it."""
        if term in self.costs:
            return float(self.costs[term])
        if term in MEMORY_TERMS and self.sram and memory_bytes is not None:
            return sram_access_pj(self.sram, memory_bytes) * self.word_bits / 64
        return None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "costs_pj": dict(self.costs),
            "sram_pj_per_64bit": [list(p) for p in self.sram],
            "word_bits": self.word_bits,
            "not_counted": list(self.not_counted),
        }


def sram_access_pj(anchors: tuple[tuple[int, float], ...], memory_bytes: int) -> float:
    """pJ of one 64-bit access to a memory of ``memory_bytes``: linear in log2(size) between the
    anchors, the end values outside them."""
    sizes = [math.log2(s) for s, _ in anchors]
    costs = [c for _, c in anchors]
    x = math.log2(max(memory_bytes, 1))
    if x <= sizes[0]:
        return costs[0]
    for (x0, c0), (x1, c1) in zip(zip(sizes, costs), zip(sizes[1:], costs[1:])):
        if x <= x1:
            return c0 + (c1 - c0) * (x - x0) / (x1 - x0)
    return costs[-1]


PRESETS: dict[str, CostTable] = {
    table.name: table
    for table in (
        CostTable(
            "fp32-45nm",
            "32-bit float arithmetic at 45 nm, compute only: the convention of most SNN papers",
            "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014: "
            "fp32 add 0.9 pJ, fp32 multiply 3.7 pJ (MAC 4.6 pJ)",
            {"sop": 0.9, "mac": 4.6, "add": 0.9},
            not_counted=("memory accesses (this convention prices arithmetic only)",),
        ),
        CostTable(
            "int8-45nm",
            "8-bit integer arithmetic at 45 nm, compute only: a fair match for INT8 accelerators",
            "M. Horowitz, ISSCC 2014: int8 add 0.03 pJ, int8 multiply 0.2 pJ (MAC 0.23 pJ)",
            {"sop": 0.03, "mac": 0.23, "add": 0.03},
            not_counted=("memory accesses (this convention prices arithmetic only)",),
        ),
        CostTable(
            "memory-aware-45nm",
            "32-bit integer arithmetic plus SRAM accesses priced by memory size, at 45 nm",
            "E. Lemaire et al., 'An analytical estimation of spiking neural networks energy efficiency', "
            "ICONIP 2022, with the 45 nm figures of M. Horowitz, ISSCC 2014: int32 add 0.1 pJ, "
            "int32 multiply 3.1 pJ (MAC 3.2 pJ), SRAM 10/20/100 pJ per 64-bit access at 8 KB/32 KB/1 MB",
            # a neuron update is an add (current) and a comparison (threshold); the reset on a spike
            # is within the add's cost range and not priced separately
            {"sop": 0.1, "mac": 3.2, "add": 0.1, "neuron_update": 0.2},
            sram=SRAM_45NM,
            not_counted=(
                "spike routing and address computation (Lemaire et al. price these per architecture)",
                "memories above 1 MB are priced as 1 MB SRAM",
            ),
        ),
        CostTable(
            "loihi",
            "Intel Loihi (14 nm) measured energies per operation",
            "M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 2018, "
            "Table 1: synaptic op 23.6 pJ, neuron update 52 pJ inactive / 81 pJ active, within-tile spike 1.7 pJ",
            # a neuron that spikes in a step is taken as 'active': it pays 81 pJ, i.e. the 52 pJ of every
            # update plus 29 pJ charged to its spike, with the 1.7 pJ of sending it
            {"sop": 23.6, "neuron_update": 52.0, "spike": 29.0 + 1.7},
            not_counted=(
                "MACs: Loihi has none, so work on the direct-coded input (done off-chip) and the ANN are not priced",
                "spikes between tiles and chips (only within-tile spike energy is priced)",
            ),
        ),
        CostTable(
            "truenorth",
            "IBM TrueNorth (28 nm) energy per synaptic event",
            "P. A. Merolla et al., 'A million spiking-neuron integrated circuit with a scalable communication "
            "network and interface', Science 2014: 26 pJ per synaptic event",
            {"sop": 26.0},
            not_counted=(
                "MACs: TrueNorth has none, so work on the direct-coded input and the ANN are not priced",
                "neuron updates and spikes (included in TrueNorth's per-event figure only on average)",
            ),
        ),
    )
}

#: The preset reports use unless told otherwise.
DEFAULT_PRESET = "memory-aware-45nm"


def with_every_preset(table: CostTable) -> tuple[CostTable | str, ...]:
    """``table`` first (the one a report's figures show), then every other built-in preset."""
    return (table,) + tuple(name for name in PRESETS if name != table.name)


def get_cost_table(name: str) -> CostTable:
    """The preset called ``name``; an unknown name is a DataError listing the presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise DataError(
            f"unknown energy preset {name!r}", f"use one of: {', '.join(PRESETS)}, or pass your own table as a file"
        ) from None


def load_cost_table(path: str | Path) -> CostTable:
    """Read a cost table from a JSON or TOML file (format in the module docstring).

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable or not a cost table.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"cost table {str(path)!r} does not exist", "check the path")
    try:
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # pragma: no cover - Python 3.10
                raise ModelFileError("reading TOML needs Python 3.11 or newer", "write the table as JSON") from None
            doc = tomllib.loads(text)
        else:
            doc = json.loads(text)
    except ModelFileError:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise ModelFileError(
            f"cost table {str(path)!r} is not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {exc}",
            "see the format in 'eventsim energy --help'",
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("costs_pj", {}), dict):
        raise ModelFileError(
            f"cost table {str(path)!r} must be an object with 'costs_pj'", "see 'eventsim energy --help'"
        )
    allowed = {"name", "description", "source", "costs_pj", "sram_pj_per_64bit", "word_bits", "not_counted"}
    extra = sorted(set(doc) - allowed)
    if extra:
        raise ModelFileError(
            f"cost table {str(path)!r} has unknown keys {extra}", f"use only: {', '.join(sorted(allowed))}"
        )
    try:
        return CostTable(
            str(doc.get("name", path.stem)),
            str(doc.get("description", "user cost table")),
            str(doc.get("source", str(path))),
            {str(k): v for k, v in doc.get("costs_pj", {}).items()},
            tuple((int(s), float(c)) for s, c in doc.get("sram_pj_per_64bit", [])),
            int(doc.get("word_bits", 32)),
            tuple(str(s) for s in doc.get("not_counted", [])),
        )
    except DataError as exc:
        raise ModelFileError(f"cost table {str(path)!r}: {exc.problem}", exc.fix) from None
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"cost table {str(path)!r} is malformed ({exc})", "see 'eventsim energy --help'") from None
