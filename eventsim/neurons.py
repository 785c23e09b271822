"""Spiking neuron kinds: each a pure update rule that both engines use.

A rule maps (membrane state, input current, threshold) to (new state, spikes) and is written with
array operations only, so the same function runs on NumPy arrays (the reference engine) and,
compiled by Numba, on scalars inside the event engine's kernels. A new kind (bistable, TTFS,
signed) is a new rule here plus its entry in :data:`KINDS`; the engines dispatch on the kind's code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba


def if_update(v, current, theta):
    """Integrate-and-fire with reset by subtraction (DESIGN.md, "Spiking semantics").

    ``m = v + I``; a spike when ``m >= θ``; the membrane keeps ``m - θ`` after a spike. Works on
    scalars and on arrays of equal or broadcastable shapes.

    Returns
    -------
    v_new, spike
        The membrane after the step and the spike indicator (bool).
    """
    m = v + current
    spike = m >= theta
    return m - spike * theta, spike


@dataclass(frozen=True)
class NeuronKind:
    """A neuron kind: its name, the code the event engine dispatches on, and its update rule."""

    name: str
    code: int
    update: Callable
    update_jit: Callable
    description: str


KINDS: dict[str, NeuronKind] = {
    "if": NeuronKind(
        "if",
        0,
        if_update,
        numba.njit(cache=True, inline="always")(if_update),
        "integrate-and-fire, reset by subtraction, spikes carry the threshold",
    ),
}


def get_kind(name: str) -> NeuronKind:
    """The neuron kind called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown neuron kind {name!r}; known kinds: {', '.join(KINDS)}") from None


__all__ = ["KINDS", "NeuronKind", "get_kind", "if_update"]
