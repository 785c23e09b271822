"""How much memory a run may take, and the one refusal when its estimate says more.

Every stage whose arrays grow with T or with the data (simulation, calibration, training) estimates
what it will hold at its peak before it allocates any of it, and asks :func:`require_memory`: the
budget is half of the machine's memory, and a need beyond it is one :class:`~eventsim.errors.DataError`
that names the need, its parts, the budget and the fix. The estimates live beside what they estimate
(:func:`eventsim.simulation.api.simulation_parts`, :func:`eventsim.conversion.memory.calibration_parts`,
:func:`eventsim.training.api.check_memory`); the budget and the message live here, once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import DataError

GIB = 2**30


#: Where a container's memory limit is read (cgroup v2, then v1); "max" or a huge number: no limit.
CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def available_bytes() -> int:
    """Memory a run may use: the machine's physical memory, or a container's limit when it sets a
    smaller one (a bound on what a run may allocate)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        physical = 16 * GIB
    return min([physical, *(limit for limit in map(_cgroup_limit, CGROUP_LIMITS) if limit)])


def _cgroup_limit(path: str) -> int | None:
    """The limit in bytes at ``path``, or None (no such file, "max", or not a number)."""
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def budget_bytes() -> int:
    """What one run may hold at once: half of :func:`available_bytes`."""
    return available_bytes() // 2


def gib(count: float) -> str:
    """Bytes in GiB for a message: ``74.5 GiB`` (``< 0.1 GiB`` for small ones)."""
    return "< 0.1 GiB" if 0 < count < 0.05 * GIB else f"{count / GIB:.1f} GiB"


def require_memory(what: str, parts: Mapping[str, int], fix: str, need: int | None = None) -> int:
    """Refuse ``what`` when its estimated peak exceeds the budget (:func:`budget_bytes`).

    Parameters
    ----------
    what : str
        The run, as the start of a sentence: ``"FTBC calibration of 200 samples for T=10000000"``.
    parts : mapping of str to int
        The estimate's parts in bytes, named as the message shows them.
    fix : str
        What makes it fit (a smaller T, fewer samples, smaller batches).
    need : int, optional
        The peak, when the parts are not all held at once (default: their sum).

    Returns
    -------
    int
        The need, in bytes (for callers that report it).
    """
    need = sum(parts.values()) if need is None else int(need)
    budget = budget_bytes()
    if need > budget:
        shown = ", ".join(f"{name} {gib(count)}" for name, count in parts.items() if count)
        raise DataError(
            f"{what} needs about {gib(need)} of memory ({shown}), more than the budget of {gib(budget)} "
            "(half of the memory available: this machine's, or its container's limit)",
            fix,
        )
    return need
