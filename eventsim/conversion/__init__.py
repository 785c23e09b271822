"""Conversion: thresholds, initial potentials (OPI), temporal biases (FTBC) and the recipes of the
neuron kinds (BSNN, TTFS), behind one ``convert`` with named presets."""

from .presets import DEFAULTS, PRESETS, V0_MODES, resolve
from .recipe import convert
from .thresholds import THRESHOLD_MODES

__all__ = ["convert", "resolve", "PRESETS", "DEFAULTS", "THRESHOLD_MODES", "V0_MODES"]
