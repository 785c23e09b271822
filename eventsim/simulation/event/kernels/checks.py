"""Host-side checks of what a kernel will read, run before any kernel sees a program.

Each kernel module pairs its Numba kernel with a plain-Python ``check_*`` function that raises
:class:`ProgramError` unless every index the kernel will compute for node k lies inside the arrays
it addresses: a bad index inside a compiled kernel would crash the process instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ProgramError(RuntimeError):
    """An event program that a kernel could not run safely: a bug in an op's lowering."""


@dataclass(frozen=True)
class Room:
    """What node k may use: its float and integer workspace, and the sizes of the static parts and of
    the input."""

    float_work: int
    int_work: int
    static_size: int
    input_size: int


def require(condition: bool, k: int, problem: str) -> None:
    if not condition:
        raise ProgramError(f"event program, node {k}: {problem}")


def params(p, k: int, count: int) -> None:
    """Node k reads ``count`` float parameters from its pointer on."""
    require(count == 0 or (p.fparam_ptr[k] >= 0 and p.fparam_ptr[k] + count <= p.fpool.size), k, "float parameters")


def work(room: Room, k: int, floats: int, ints: int) -> None:
    """Node k uses ``floats`` and ``ints`` elements of workspace."""
    require(room.float_work >= floats and room.int_work >= ints, k, "workspace")


def index_map(p, k: int, i: int, length: int, bound: int) -> None:
    """Index map ``i`` of node k has ``length`` entries inside the pool, each in [0, bound)."""
    require(p.iparam_ptr[k] >= 0 and p.iparam_ptr[k] + i < p.ipool.size, k, "index map pointer")
    start = int(p.ipool[p.iparam_ptr[k] + i])
    require(0 <= start <= p.ipool.size - length, k, f"index map {i} lies outside the pool")
    m = p.ipool[start : start + length]
    require(m.size == length and (length == 0 or (m.min() >= 0 and m.max() < bound)), k, f"index map {i} bounds")


def one_input(p, k: int, inputs: np.ndarray, size: int | None = None) -> int:
    """Node k reads one input (of ``size`` elements); its index."""
    require(len(inputs) == 1 and (size is None or p.size[inputs[0]] == size), k, "input")
    return int(inputs[0])


def window(p, k: int, inputs: np.ndarray) -> None:
    """A window kernel's geometry row matches its input's and its own size."""
    g = p.geometry[k]
    require(
        g[3] * g[4] * g[5] == p.size[k] and min(g[6:14]) >= 0 and min(g[6], g[7], g[8], g[9], g[14]) >= 1, k, "geometry"
    )
    one_input(p, k, inputs, int(g[0] * g[1] * g[2]))
