"""How a simulation shares the cores between Numba's kernels and NumPy's BLAS.

Engines run Numba parallel kernels and NumPy (BLAS) products in turn. OpenBLAS's worker threads
busy-wait for a while after every multi-threaded product, on the very cores the next Numba kernel
needs: measured here, the layer engine's neuron kernel ran 2.5× slower inside a VGG-style run than
alone, and slower on two threads than on one. So :func:`eventsim.simulate` runs with BLAS limited to
one thread (:func:`single_threaded_blas`), and the layer engine cuts its dense products into parts
that run on a pool of Python threads, one per core (:func:`parallel_parts`; NumPy releases the GIL in
its copies and products, so the im2col columns are built in parallel too).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (threads, pool)
_CONTROLLER = None


def single_threaded_blas() -> AbstractContextManager:
    """A context in which BLAS runs on one thread (a no-op where threadpoolctl finds no BLAS)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController  # inspects the loaded libraries once

        _CONTROLLER = ThreadpoolController()
    if not _CONTROLLER.select(user_api="blas").lib_controllers:
        return nullcontext()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def parallel_parts(work: Callable[[int, int], None], rows: int, most: int) -> None:
    """Run ``work(lo, hi)`` over ``rows`` rows cut into parts of at most ``most`` rows, at least one
    part per core when there are rows enough, on all cores."""
    import numba  # here: importing eventsim must not load Numba

    global _POOL
    threads = numba.get_num_threads()
    size = max(1, min(most, -(-rows // threads)))
    bounds = [(lo, min(rows, lo + size)) for lo in range(0, rows, size)]
    if len(bounds) == 1 or threads == 1:
        for lo, hi in bounds:
            work(lo, hi)
        return
    if _POOL is None or _POOL[0] != threads:  # Numba's thread count may change between runs
        _POOL = (threads, ThreadPoolExecutor(threads, thread_name_prefix="eventsim-layer"))
    for future in [_POOL[1].submit(work, lo, hi) for lo, hi in bounds]:
        future.result()  # re-raises a part's exception
