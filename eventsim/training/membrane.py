"""What the trainer asks of a neuron layer's kind: the leak and the reset of its membrane."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..snn.kinds.base import NeuronLayer


def membrane_dynamics(layer: NeuronLayer, name: str) -> tuple[np.float32, bool]:
    """β (float32) and whether the reset is to zero, for a layer whose kind follows the leaky rule
    ``m = β·v + I; s = [m ≥ θ]``; other kinds are refused by name."""
    dynamics = layer.spec.membrane_dynamics(layer)
    if dynamics is None:
        raise UnsupportedError(
            f"layer {name!r} has {layer.kind} neurons, which the trainer cannot differentiate",
            "train networks of 'if' or 'lif' neurons",
        )
    leak, reset = dynamics
    return np.float32(leak), reset == "zero"
