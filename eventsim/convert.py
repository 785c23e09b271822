"""``convert``: from an imported ANN graph to a spiking network, by a named recipe.

Presets (ALGORITHMS.md sections 1–3); options given to :func:`convert` override a preset's entries:

========== ============================================== ========= =========
preset     thresholds                                     v0        FTBC
========== ============================================== ========= =========
baseline   max activation per layer (Diehl 2015)          0         no
robust     99.99th percentile per layer (Rueckauer 2017)  0         no
opi        model bound (clip/QCFS λ), else max            θ/2       no
opi-opt    model bound, else max                          optimised no
qcfs       QCFS λ (QCFS-trained models only)              θ/2       no
ftbc       model bound, else max                          θ/2       yes (T)
bsnn       model bound, else max; bistable neurons in     θ/2       no
           cycles of ``period`` steps, synchronous
           neurons (delays) on shortcuts (eventsim.bsnn)
ttfs       model bound, else max λ; TTFS neurons with     (closed   no
           windows of ``window`` steps, spikes of λ/K,    form)
           temporal decoding (Stanojevic et al.)
========== ============================================== ========= =========
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .bsnn import bistable_network
from .calibration import (
    THRESHOLD_MODES,
    V0_MODES,
    calibrate_ftbc,
    data_thresholds,
    make_network,
    model_bound,
    model_thresholds,
    optimize_v0,
)
from .data import check_batch
from .errors import DataError, OptionError
from .graph import Graph
from .network import SpikingNetwork
from .ttfs import ttfs_network

PRESETS: dict[str, dict] = {
    "baseline": {"threshold": "max", "v0": "zero", "ftbc": False},
    "robust": {"threshold": "percentile", "v0": "zero", "ftbc": False},
    "opi": {"threshold": "auto", "v0": "half", "ftbc": False},
    "opi-opt": {"threshold": "auto", "v0": "optimized", "ftbc": False},
    "qcfs": {"threshold": "qcfs", "v0": "half", "ftbc": False},
    "ftbc": {"threshold": "auto", "v0": "half", "ftbc": True},
    "bsnn": {"threshold": "auto", "v0": "half", "ftbc": False, "bistable": True},
    "ttfs": {"threshold": "auto", "v0": "half", "ftbc": False, "ttfs": True},
}

#: Options and their defaults (the authors' settings where there are any).
DEFAULTS: dict[str, object] = {
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
    "bistable": False,
    "period": 8,
    "ttfs": False,
    "window": 8,
}

# kept for the quick path of earlier versions: threshold "max" or "clip"
THRESHOLDS = ("max", "clip")


def convert(
    graph: Graph,
    calib_x: np.ndarray | None = None,
    preset: str = "opi",
    T: int | None = None,
    progress: Callable[[str], None] | None = None,
    **options,
) -> SpikingNetwork:
    """Turn ``graph`` into a spiking network with a preset recipe.

    Parameters
    ----------
    graph : Graph
        An imported ANN.
    calib_x : numpy.ndarray, optional
        Calibration inputs; needed by data-based thresholds, optimised v0 and FTBC.
    preset : str
        One of :data:`PRESETS` (see the module docstring).
    T : int, optional
        The number of time steps to calibrate for (optimised v0 and FTBC need it).
    progress : callable, optional
        Called with a short text after each calibration step.
    **options
        Override the preset: ``threshold`` (max, percentile, clip, qcfs, auto), ``per_channel``,
        ``percentile``, ``v0`` (zero, half, optimized), ``ftbc``, ``alpha``, ``ftbc_batches``,
        ``ftbc_batch_size``, ``opi_samples``, ``seed``, ``batch_size``.
    """
    settings = resolve(preset, T, **options)
    if calib_x is not None:
        calib_x = check_batch(calib_x, graph.input_shape, "calibration data")
    needs_data = settings["threshold"] in ("max", "percentile") or (
        settings["threshold"] == "auto" and any(model_bound(n) is None for n in graph.activation_nodes())
    )
    if (needs_data or settings["v0"] == "optimized" or settings["ftbc"]) and calib_x is None:
        raise DataError(
            f"preset {preset!r} with these options needs calibration data", "pass calibration inputs (--calib FILE)"
        )
    thresholds = _thresholds(graph, calib_x, settings, progress)
    if settings["bistable"]:
        return _bistable_network(graph, thresholds, settings, preset, T, calib_x)
    if settings["ttfs"]:
        return _ttfs_network(graph, thresholds, settings, preset, T, calib_x)
    net = make_network(graph, thresholds, "zero" if settings["v0"] == "zero" else "half")
    # the recipe; FTBC adds what it was calibrated for (its T) under "ftbc_calibration"
    net.meta.update(_recipe(preset, T, calib_x, settings))
    if settings["v0"] == "optimized":
        subset = calib_x[: int(settings["opi_samples"])]
        optimize_v0(net, subset, int(T), per_channel=bool(settings["per_channel"]), progress=progress)
    if settings["ftbc"]:
        calibrate_ftbc(
            net,
            calib_x,
            int(T),
            float(settings["alpha"]),
            int(settings["ftbc_batches"]),
            int(settings["ftbc_batch_size"]),
            int(settings["seed"]),
            progress,
        )
    return net


def resolve(preset: str, T: int | None = None, **options) -> dict:
    """The full settings of ``preset`` with ``options`` applied; invalid combinations are errors."""
    if preset not in PRESETS:
        raise OptionError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise OptionError(f"unknown conversion options {unknown}; valid options: {', '.join(DEFAULTS)}")
    settings = {**DEFAULTS, **PRESETS[preset], **{k: v for k, v in options.items() if v is not None}}
    if settings["threshold"] not in THRESHOLD_MODES:
        raise OptionError(f"unknown threshold mode {settings['threshold']!r}; valid: {', '.join(THRESHOLD_MODES)}")
    if settings["v0"] not in V0_MODES:
        raise OptionError(f"unknown v0 mode {settings['v0']!r}; valid: {', '.join(V0_MODES)}")
    if settings["ttfs"] and (settings["v0"] != "half" or settings["ftbc"] or settings["bistable"]):
        raise OptionError(
            "TTFS neurons (ttfs) combine with the threshold modes only: their v0 follows from the mapping"
        )
    if settings["ttfs"] and (not isinstance(settings["window"], (int, np.integer)) or settings["window"] < 1):
        raise OptionError(f"the TTFS window must be a whole number of steps ≥ 1, got {settings['window']!r}")
    if settings["bistable"] and (settings["v0"] == "optimized" or settings["ftbc"]):
        raise OptionError(
            "bistable neurons (bsnn) combine with the threshold modes and v0 zero/half, "
            "not with FTBC or v0 optimisation"
        )
    if settings["bistable"] and (not isinstance(settings["period"], (int, np.integer)) or settings["period"] < 1):
        raise OptionError(f"the BSNN period must be a whole number of steps ≥ 1, got {settings['period']!r}")
    if (settings["v0"] == "optimized" or settings["ftbc"]) and (T is None or int(T) < 1):
        raise OptionError(
            f"preset {preset!r} calibrates for a number of time steps",
            "pass T (T=16 in Python, -T 16 on the command line)",
        )
    return settings


def _bistable_network(graph: Graph, thresholds, settings: dict, preset: str, T, calib_x) -> SpikingNetwork:
    net, delays = bistable_network(graph, thresholds, int(settings["period"]), settings["v0"])
    net.meta.update(_recipe(preset, T, calib_x, settings))
    net.meta["bsnn"] = {
        "period": int(settings["period"]),
        "stages": max(layer.stage for layer in net.layers.values()),
        "synchronous_delays": [{"after": d.source, "before": d.target, "steps": d.steps} for d in delays],
    }
    return net


def _ttfs_network(graph: Graph, thresholds, settings: dict, preset: str, T, calib_x) -> SpikingNetwork:
    window = int(settings["window"])
    net, delays = ttfs_network(graph, thresholds, window)
    deepest = max(layer.stage for layer in net.layers.values())
    net.meta.update(_recipe(preset, T, calib_x, settings))
    net.meta["ttfs"] = {
        "window": window,
        "stages": deepest,
        "steps": window * (deepest + 1),
        "synchronous_delays": [{"after": d.source, "before": d.target, "steps": d.steps} for d in delays],
    }
    return net


def _recipe(preset: str, T, calib_x, settings: dict) -> dict:
    """What a network's metadata says about how it was made."""
    return {
        "preset": preset,
        "T": T,
        "calibration_samples": 0 if calib_x is None else len(calib_x),
        "settings": settings,
    }


def _thresholds(graph: Graph, x, settings: dict, progress) -> dict[str, np.ndarray]:
    mode = settings["threshold"]
    if mode in ("clip", "qcfs"):
        return model_thresholds(graph, only="qcfs" if mode == "qcfs" else None)
    statistic = "percentile" if mode == "percentile" else "max"
    data = None
    if mode != "auto" or any(model_bound(n) is None for n in graph.activation_nodes()):
        data = data_thresholds(
            graph,
            x,
            statistic,
            bool(settings["per_channel"]),
            float(settings["percentile"]),
            int(settings["batch_size"]),
            seed=int(settings["seed"]),
            progress=progress,
        )
    if mode != "auto":
        return data
    return {
        n.name: np.float32(model_bound(n)) if model_bound(n) is not None else data[n.name]
        for n in graph.activation_nodes()
    }
