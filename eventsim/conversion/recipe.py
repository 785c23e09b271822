"""``convert``: from an imported ANN graph to a spiking network, by a named recipe (the presets of
:mod:`eventsim.conversion.presets`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..data import check_batch
from ..errors import DataError
from ..ir.graph import Graph
from ..snn.kinds import get_kind
from ..snn.network import SpikingNetwork
from .ftbc import calibrate_ftbc
from .memory import check_calibration_memory
from .opi import optimize_v0
from .presets import needs_data, resolve, thresholds_from_data
from .thresholds import data_thresholds, model_thresholds


def convert(
    graph: Graph,
    calib_x: np.ndarray | None = None,
    preset: str = "opi",
    T: int | None = None,
    progress: Callable[[str], None] | None = None,
    calib_y: np.ndarray | None = None,
    cluster: str | None = None,
    workers: int | None = None,
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
        One of :data:`~eventsim.conversion.presets.PRESETS`. ``auto`` chooses the recipe for this
        model and ``T`` on a held-out part of ``calib_x`` (:mod:`eventsim.conversion.auto`) and
        calibrates it on all of ``calib_x``; it needs ``T``.
    T : int, optional
        The number of time steps to calibrate for (optimised v0 and FTBC need it).
    progress : callable, optional
        Called with a short text after each calibration step (and each candidate of ``auto``).
    calib_y : numpy.ndarray, optional
        Labels of ``calib_x``; only ``auto`` reads them (it then ranks candidates by accuracy).
    cluster, workers : optional
        A Dask cluster (``"local"`` with ``workers`` processes, or a scheduler's address) on which
        ``auto`` scores its candidates; the other presets calibrate in this process.
    **options
        Override the preset: ``threshold`` (max, percentile, clip, qcfs, auto), ``per_channel``,
        ``percentile``, ``v0`` (zero, half, optimized), ``ftbc``, ``alpha``, ``ftbc_batches``,
        ``ftbc_batch_size``, ``opi_samples``, ``seed``, ``batch_size``, ``kind`` (if, bistable, ttfs)
        and the options of the kind (``period``, ``window``).

    Returns
    -------
    SpikingNetwork
        Its ``meta`` records the recipe, and the source file and its SHA-256 when the graph was
        imported from a file.
    """
    if preset == "auto":
        from .auto import convert_auto

        return convert_auto(graph, calib_x, T, calib_y, progress, cluster, workers, **options)
    settings = resolve(preset, T, **options)
    if calib_x is not None:
        calib_x = check_batch(calib_x, graph.input_shape, "calibration data")
    if needs_data(settings, graph) and calib_x is None:
        raise DataError(
            f"preset {preset!r} with these options needs calibration data", "pass calibration inputs (--calib FILE)"
        )
    samples = 0 if calib_x is None else len(calib_x)
    check_calibration_memory(graph, settings, T, samples, f"converting with preset {preset!r}")
    thresholds = _thresholds(graph, calib_x, settings, progress)
    net = SpikingNetwork.from_kind(get_kind(settings["kind"]).build(graph, thresholds, settings))
    net.meta.update(_recipe(graph, preset, T, calib_x, settings))
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


def _recipe(graph: Graph, preset: str, T, calib_x, settings: dict) -> dict:
    """What a network's metadata says about how it was made (and from which file)."""
    recipe = {
        "preset": preset,
        "T": T,
        "calibration_samples": 0 if calib_x is None else len(calib_x),
        "settings": settings,
    }
    if graph.meta.get("source_sha256"):
        recipe["source_model"] = graph.meta["source"]
        recipe["source_sha256"] = graph.meta["source_sha256"]
    return recipe


def _thresholds(graph: Graph, x, settings: dict, progress) -> dict[str, np.ndarray]:
    """θ per activation: the model's bounds (clip, qcfs), data statistics (max, percentile), or with
    ``auto`` each layer's own bound where it has one and the data's maximum elsewhere."""
    mode = settings["threshold"]
    if mode in ("clip", "qcfs"):
        return model_thresholds(graph, quantised=mode == "qcfs")
    data = None
    if thresholds_from_data(settings, graph):
        data = data_thresholds(
            graph,
            x,
            "percentile" if mode == "percentile" else "max",
            bool(settings["per_channel"]),
            float(settings["percentile"]),
            int(settings["batch_size"]),
            seed=int(settings["seed"]),
            progress=progress,
        )
    if mode != "auto":
        return data
    bounds = {n.name: n.spec.bound(n) for n in graph.activation_nodes()}
    return {name: data[name] if bound is None else np.float32(bound) for name, bound in bounds.items()}
