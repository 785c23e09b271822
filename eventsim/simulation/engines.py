"""The engine interface and the registry of engines by name.

An engine turns a :class:`~eventsim.simulation.plan.SimulationPlan` and batches of inputs into
recordings. It is made once per :func:`eventsim.simulate` call, so it may compile or derive whatever it
needs from the plan in its constructor, and it is free to order the work as it likes (step by step, or
layer by layer over all steps): only the recording it returns is specified, and it must equal the
``reference`` engine's (bit for bit where all sums are exact in float32).

Engines are registered as ``"module:Class"`` so that an engine's module (and Numba) is imported only
when the engine is used.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import ClassVar

from .plan import Batch, SimulationPlan
from .recording import Recording


class Engine(ABC):
    """Simulates batches of one plan (module docstring)."""

    name: ClassVar[str] = ""

    def __init__(self, plan: SimulationPlan) -> None:
        self.plan = plan

    @abstractmethod
    def run(self, batch: Batch) -> Recording:
        """Simulate ``batch`` for ``plan.T`` steps; the recording of its samples."""

    def report(self) -> dict:
        """What the engine decided in the batches run so far, for the recording's settings."""
        return {}


#: Engines by name: the class, or "module:Class" to import on first use.
ENGINES: dict[str, type[Engine] | str] = {
    "auto": "eventsim.simulation.auto:AutoEngine",
    "event": "eventsim.simulation.event.engine:EventEngine",
    "layer": "eventsim.simulation.layer.engine:LayerEngine",
    "reference": "eventsim.simulation.reference:ReferenceEngine",
}


def register_engine(name: str, engine: type[Engine] | str) -> None:
    """Make ``engine`` (a class, or "module:Class") available as ``simulate(..., engine=name)``."""
    if name in ENGINES:
        raise ValueError(f"an engine named {name!r} is registered already")
    ENGINES[name] = engine


def get_engine(name: str) -> type[Engine]:
    """The engine class registered as ``name``; an unknown name is a ValueError listing the known ones."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    engine = ENGINES[name]
    if isinstance(engine, str):
        module, cls = engine.split(":")
        engine = ENGINES[name] = getattr(importlib.import_module(module), cls)
    return engine
