"""Training spiking networks directly: backpropagation through time with gradient estimators in place
of the derivative of the spike.

The public API is :func:`train` (also ``eventsim.train``); the estimators are :func:`localzo`,
:func:`surrogate` and :func:`parse_estimator`. Nothing here imports Numba until a kernel runs.
"""

from __future__ import annotations

from .api import TrainResult, train
from .estimators import ESTIMATORS, Estimator, localzo, parse_estimator, surrogate
from .finetune import finetune
from .ttfs import average_pools, train_ttfs

__all__ = [
    "train",
    "finetune",
    "train_ttfs",
    "average_pools",
    "TrainResult",
    "Estimator",
    "ESTIMATORS",
    "localzo",
    "surrogate",
    "parse_estimator",
]
