"""Training checkpoints: one ``.npz`` (``allow_pickle=False``) with the network's arrays (as the
network file stores them, under ``net/``), the optimiser's state (under ``opt/``) and a JSON
description (format ``eventsim.checkpoint`` version 1: the network's description, the settings, the
estimator, the optimiser's settings and the history). Written atomically: a checkpoint is complete
or absent. Nothing in it is ever unpickled."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import DataError, EventsimError, ModelFileError, ShapeError
from ..io import atomic_target
from ..snn.network_file import DAMAGE, network_arrays, network_from_parts, read_archive
from .estimators import parse_estimator
from .optimizers import Optimizer
from .trainer import EpochRecord, TrainSettings, TrainState

FORMAT, VERSION = "eventsim.checkpoint", 1


def save_checkpoint(state: TrainState, path: str | Path) -> None:
    """Write ``state`` to ``path`` (.npz), atomically."""
    description, arrays = network_arrays(state.net)
    description["meta"] = state.net.meta
    stored = {f"net/{key}": value for key, value in arrays.items()}
    stored.update({f"opt/{key}": np.asarray(value) for key, value in state.optimizer.state.items()})
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "network": description,
        "settings": asdict(state.settings),
        "estimator": state.estimator.spec(),
        "optimizer": state.optimizer.settings(),
        "history": [asdict(record) for record in state.history],
        "capacity": state.capacity,
    }
    stored["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_target(path, suffix=".npz") as tmp:
        np.savez(tmp, **stored)


def load_checkpoint(path: str | Path) -> TrainState:
    """Read a checkpoint written by :func:`save_checkpoint`; anything else (a network file, a damaged
    or foreign file) is a :class:`ModelFileError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"checkpoint {str(path)!r} does not exist", "check the path")
    fix = "start the run again without --resume"
    try:
        meta, arrays = read_archive(path, "checkpoint", "pass a file written by 'eventsim train --checkpoint'")
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise ModelFileError(
                f"{str(path)!r} is not an eventsim checkpoint of version {VERSION} "
                f"(format {meta.get('format')!r}, version {meta.get('version')!r})",
                "pass a file written by train(checkpoint=...) or 'eventsim train --checkpoint'",
            )
        net = network_from_parts(meta["network"], {k[4:]: v for k, v in arrays.items() if k.startswith("net/")})
        opt_settings = dict(meta["optimizer"])
        opt_settings["betas"] = tuple(opt_settings["betas"])
        optimizer = Optimizer(**opt_settings)
        optimizer.state = _optimizer_state(net, {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        state = TrainState(net, optimizer, TrainSettings(**meta["settings"]), parse_estimator(meta["estimator"]))
        state.settings.check()
        state.history = [EpochRecord(**row) for row in meta["history"]]
        state.capacity = {str(k): int(v) for k, v in meta.get("capacity", {}).items()}
        return state
    except ModelFileError:
        raise
    except ShapeError as exc:
        raise ModelFileError(f"{str(path)!r} holds an invalid network: {exc.problem}", fix) from None
    except EventsimError as exc:
        if isinstance(exc, DataError):
            text = exc.problem
        else:
            text = f"invalid settings: {exc.problem}"
        raise ModelFileError(f"{str(path)!r} is damaged or not an eventsim checkpoint ({text})", fix) from None
    except DAMAGE as exc:
        raise ModelFileError(
            f"{str(path)!r} is damaged or not an eventsim checkpoint ({type(exc).__name__}: {exc})", fix
        ) from None


def _optimizer_state(net, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The optimiser's arrays, each finite and of the shape of the parameter it belongs to
    (``<node>/<param>/<m|v|momentum>``)."""
    params = {f"{node.name}/{key}": value for node in net.graph.nodes for key, value in node.params.items()}
    for name, layer in net.layers.items():
        params[f"layer/{name}/threshold"], params[f"layer/{name}/v0"] = layer.threshold, layer.v0
        if layer.temporal_bias is not None:
            params[f"layer/{name}/temporal_bias"] = layer.temporal_bias
    checked = {}
    for key, value in state.items():
        value = np.asarray(value)
        if value.dtype.kind != "f" or not np.all(np.isfinite(value)):
            raise ShapeError(f"the optimiser's array {key!r} is not finite floating point")
        owner = key.rsplit("/", 1)[0]
        if owner in params and value.shape != np.shape(params[owner]):
            raise ShapeError(
                f"the optimiser's array {key!r} has shape {value.shape}, its parameter {np.shape(params[owner])}"
            )
        checked[key] = np.array(value, np.float64)
    return checked
