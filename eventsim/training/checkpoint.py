"""Training checkpoints: one ``.npz`` (``allow_pickle=False``) with the network's arrays (as the
network file stores them, under ``net/``), the optimiser's state (under ``opt/``) and a JSON
description (format ``eventsim.checkpoint`` version 1: the network's description, the settings, the
estimator, the optimiser's settings and the history). Written atomically: a checkpoint is complete
or absent. Nothing in it is ever unpickled."""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, ShapeError
from ..io import atomic_target
from ..snn.network_file import network_arrays, network_from_parts
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
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "__meta__" not in archive.files:
                raise ModelFileError(f"{str(path)!r} is not an eventsim checkpoint (no metadata)")
            meta = json.loads(archive["__meta__"].tobytes().decode())
            arrays = {key: archive[key] for key in archive.files if key != "__meta__"}
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
        optimizer.state = {k[4:]: np.array(v, np.float64) for k, v in arrays.items() if k.startswith("opt/")}
        state = TrainState(net, optimizer, TrainSettings(**meta["settings"]), parse_estimator(meta["estimator"]))
        state.history = [EpochRecord(**row) for row in meta["history"]]
        state.capacity = {str(k): int(v) for k, v in meta.get("capacity", {}).items()}
        return state
    except ModelFileError:
        raise
    except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is damaged or not an eventsim checkpoint ({type(exc).__name__}: {exc})",
            "start the run again without --resume",
        ) from None
    except ShapeError as exc:
        raise ModelFileError(f"{str(path)!r} holds an invalid network: {exc.problem}") from None
