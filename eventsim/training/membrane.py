"""What the trainer asks of a neuron layer's kind: the leak and the reset of its membrane."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from ..snn.kinds.base import NeuronLayer

#: The trainer's reset modes, by the code its kernels take: θ subtracted, set to zero, or silent for
#: the rest of the run after the first spike (single-spike neurons).
RESETS = {"subtract": 0, "zero": 1, "once": 2}
SUBTRACT, ZERO, ONCE = RESETS.values()


def membrane_dynamics(layer: NeuronLayer, name: str) -> tuple[np.float32, int]:
    """β (float32) and the code of the reset (:data:`RESETS`), for a layer whose kind follows the
    leaky rule ``m = β·v + I; s = [m ≥ θ]``; other kinds are refused by name."""
    dynamics = layer.spec.membrane_dynamics(layer)
    if dynamics is None:
        raise UnsupportedError(
            f"layer {name!r} has {layer.kind} neurons, which the trainer cannot differentiate",
            "train networks of 'if', 'lif' or 'single_spike' neurons",
        )
    leak, reset = dynamics
    return np.float32(leak), RESETS[reset]
