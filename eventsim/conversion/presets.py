"""Conversion presets and options: named recipes, what each option means, and which combinations
are valid.

========== ============================================== ========= ========= ==========
preset     thresholds                                     v0        FTBC      neuron kind
========== ============================================== ========= ========= ==========
baseline   max activation per layer (Diehl 2015)          0         no        if
robust     99.99th percentile per layer (Rueckauer 2017)  0         no        if
opi        model bound (clip/QCFS λ), else max            θ/2       no        if
opi-opt    model bound, else max                          optimised no        if
qcfs       QCFS λ (QCFS-trained models only)              θ/2       no        if
ftbc       model bound, else max                          θ/2       yes (T)   if
bsnn       model bound, else max                          θ/2       no        bistable, cycles of
                                                                              ``period`` steps, with
                                                                              synchronous neurons
ttfs       model bound, else max λ; spikes of λ/K         (closed   no        ttfs, windows of
                                                          form)               ``window`` steps
auto       searched: per layer/channel × bound|max,       searched  searched  if
           p99.99, p99.9 (:mod:`.auto`), chosen on held-
           out calibration data at T
========== ============================================== ========= ========= ==========
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import OptionError
from ..snn.kinds import KINDS, get_kind
from .thresholds import THRESHOLD_MODES

V0_MODES = ("zero", "half", "optimized")

PRESETS: dict[str, dict] = {
    "baseline": {"threshold": "max", "v0": "zero", "ftbc": False},
    "robust": {"threshold": "percentile", "v0": "zero", "ftbc": False},
    "opi": {"threshold": "auto", "v0": "half", "ftbc": False},
    "opi-opt": {"threshold": "auto", "v0": "optimized", "ftbc": False},
    "qcfs": {"threshold": "qcfs", "v0": "half", "ftbc": False},
    "ftbc": {"threshold": "auto", "v0": "half", "ftbc": True},
    "bsnn": {"threshold": "auto", "v0": "half", "ftbc": False, "kind": "bistable"},
    "ttfs": {"threshold": "auto", "v0": "half", "ftbc": False, "kind": "ttfs"},
    # searched per model and T (eventsim.conversion.auto); these are only its starting point
    "auto": {"threshold": "auto", "v0": "half", "ftbc": False},
}

#: Options and their defaults (the authors' settings where there are any), then what each neuron
#: kind reads (``period`` of bistable neurons, ``window`` of TTFS neurons).
DEFAULTS: dict[str, object] = {
    "kind": "if",
    "threshold": "auto",
    "per_channel": False,
    "percentile": 99.99,
    "v0": "half",
    "ftbc": False,
    "alpha": 0.4,
    "ftbc_batches": 3,
    "ftbc_batch_size": 200,
    "opi_samples": 256,
    "seed": 0,
    "batch_size": 256,
    **{option: default for kind in KINDS.values() for option, default in kind.options.items()},
}


def resolve(preset: str, T: int | None = None, **options) -> dict:
    """The full settings of ``preset`` with ``options`` applied; invalid combinations are errors."""
    if preset not in PRESETS:
        raise OptionError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise OptionError(f"unknown conversion options {unknown}; valid options: {', '.join(DEFAULTS)}")
    settings = {**DEFAULTS, **PRESETS[preset], **{k: v for k, v in options.items() if v is not None}}
    if options.get("burst") is not None and "kind" not in PRESETS[preset] and options.get("kind") is None:
        settings["kind"] = "burst"  # B spikes per step in a rate-coded preset: its IF neurons become burst
    if options.get("burst") is not None and settings["kind"] != "burst":
        raise OptionError(
            f"the burst option (spikes per step) applies to burst neurons, not to kind {settings['kind']!r}",
            "use it with a rate-coded preset (opi, ftbc, ...) or kind='burst'",
        )
    if settings["kind"] not in KINDS:
        raise OptionError(f"unknown neuron kind {settings['kind']!r}; valid: {', '.join(KINDS)}")
    if settings["threshold"] not in THRESHOLD_MODES:
        raise OptionError(f"unknown threshold mode {settings['threshold']!r}; valid: {', '.join(THRESHOLD_MODES)}")
    if settings["v0"] not in V0_MODES:
        raise OptionError(f"unknown v0 mode {settings['v0']!r}; valid: {', '.join(V0_MODES)}")
    problem = get_kind(settings["kind"]).check_settings(settings) or _number_problem(settings)
    if problem:
        raise OptionError(problem)
    if T is not None and (isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1):
        raise OptionError(f"T must be a whole number of time steps ≥ 1, got {T!r}", "pass T ≥ 1 (-T 16)")
    if (preset == "auto" or settings["v0"] == "optimized" or settings["ftbc"]) and T is None:
        raise OptionError(
            f"preset {preset!r} calibrates for a number of time steps",
            "pass T (T=16 in Python, -T 16 on the command line)",
        )
    return settings


#: Numeric options: (lowest, highest, whether the lowest itself is allowed, what the option is).
NUMBERS: dict[str, tuple[float, float, bool, str]] = {
    "percentile": (0.0, 100.0, False, "a percentile in (0, 100]"),
    "alpha": (0.0, math.inf, False, "FTBC's step size, > 0"),
    "ftbc_batches": (1, math.inf, True, "FTBC's number of batches, ≥ 1"),
    "ftbc_batch_size": (1, math.inf, True, "FTBC's batch size, ≥ 1"),
    "opi_samples": (1, math.inf, True, "OPI's number of samples, ≥ 1"),
    "batch_size": (1, math.inf, True, "a batch size, ≥ 1"),
    "seed": (0, 2**63 - 1, True, "a seed, ≥ 0"),
}
#: The numeric options that count something (whole numbers).
COUNTS = ("ftbc_batches", "ftbc_batch_size", "opi_samples", "batch_size", "seed")


def _number_problem(settings: dict) -> str | None:
    """What is wrong with a numeric option (out of its range, not finite, not whole), or None."""
    for option, (low, high, closed, meaning) in NUMBERS.items():
        value = settings[option]
        whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        number = whole or (isinstance(value, (float, np.floating)) and option not in COUNTS)
        inside = number and math.isfinite(value) and (low <= value if closed else low < value) and value <= high
        if not inside:
            return f"option {option!r} must be {meaning}, got {value!r}"
    return None


def thresholds_from_data(settings: dict, graph) -> bool:
    """Whether some layer of ``graph`` takes its threshold from data: always with ``max`` and
    ``percentile``, and with ``auto`` where a layer has no bound of its own (clip, QCFS)."""
    mode = settings["threshold"]
    return mode in ("max", "percentile") or (
        mode == "auto" and any(n.spec.bound(n) is None for n in graph.activation_nodes())
    )


def needs_data(settings: dict, graph) -> bool:
    """Whether the settings need calibration data for ``graph``: thresholds from data, optimised v0
    or FTBC."""
    return thresholds_from_data(settings, graph) or settings["v0"] == "optimized" or bool(settings["ftbc"])
