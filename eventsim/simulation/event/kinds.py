"""The event engine's table of neuron kinds: each kind's rule compiled for the kernels, and its code.

The rules themselves live with their kinds (:mod:`eventsim.snn.kinds`) and hold no engine code; this
table is the one place where the engine compiles them. A new kind that fits the rule shape takes one
entry in :data:`RULES` and one branch in :func:`update` (Numba cannot index a tuple of functions
with a value known only at run time without its experimental first-class functions), and its name in
the ``COMPILED_KINDS`` of the kernel modules that inline :func:`update`, which recompiles their
cached kernels (Numba's cache sees only changes of a kernel's own file).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...errors import UnsupportedError
from ...snn.kinds import get_kind


def _compiled(name: str):
    return njit(cache=True, inline="always")(get_kind(name).rule)


#: Kind name → code the kernels dispatch on, in the order of the branches of :func:`update`.
RULES = ("if", "bistable", "ttfs", "lif", "single_spike", "burst", "signed")
_if, _bistable, _ttfs, _lif, _single, _burst, _signed = (_compiled(name) for name in RULES)


@njit(cache=True, inline="always")
def _count(spike):
    """A rule's spike as the number of θ it emits, float32: a bool of the one-spike kinds becomes 0 or
    1, a graded kind's count stays (the branches of :func:`update` must return one type)."""
    return np.float32(spike)


@njit(cache=True, inline="always")
def update(kind, v, current, theta, phase, memory):
    """The rule of the kind with code ``kind`` (its position in :data:`RULES`) on a neuron whose
    second state number is ``memory`` (kinds without memory leave it): the new membrane, the number
    of spikes (float32; negative for a signed neuron's negative spike) and the new memory."""
    if kind == 6:
        return _signed(v, current, theta, phase, memory)
    if kind == 1:
        v, spike = _bistable(v, current, theta, phase)
    elif kind == 2:
        v, spike = _ttfs(v, current, theta, phase)
    elif kind == 3:
        v, spike = _lif(v, current, theta, phase)
    elif kind == 4:
        v, spike = _single(v, current, theta, phase)
    elif kind == 5:
        v2, k = _burst(v, current, theta, phase)
        return v2, k, memory
    else:
        v, spike = _if(v, current, theta, phase)
    return v, _count(spike), memory


def kind_code(name: str) -> int:
    """The code of neuron kind ``name``; a kind without an entry is refused by name."""
    if name not in RULES:
        raise UnsupportedError(f"the event engine has no rule for neuron kind {name!r}", "use engine='reference'")
    return RULES.index(name)
