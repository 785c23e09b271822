"""Simulation: the engine-independent plan of a run, the engine interface and registry, the
``reference`` and ``event`` engines, and the recording they return."""

from .api import simulate
from .engines import ENGINES, Engine, get_engine, register_engine
from .plan import Batch, SimulationPlan
from .recording import Recording

__all__ = ["simulate", "Engine", "ENGINES", "get_engine", "register_engine", "Batch", "SimulationPlan", "Recording"]
