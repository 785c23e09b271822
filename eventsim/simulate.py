"""``simulate``: run a spiking network on a batch of inputs for T steps with a chosen engine."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import numpy as np

from .coding import check_encoding
from .data import check_batch
from .engines.plan import Plan
from .errors import DataError
from .network import SpikingNetwork
from .recording import Recording

ENGINES = ("event", "reference")


def _available_bytes() -> int:
    """Physical memory of the machine (a bound on what a run may allocate)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


def _check_memory(n: int, T: int, net: SpikingNetwork, neurons: int, batch: int, encoding: str, rasters: int) -> None:
    """Refuse runs whose recording (or per-batch buffers) would not fit in half the memory."""
    outputs = n * T * int(np.prod(net.graph.output_shape)) * 4
    spikes_in = batch * T * int(np.prod(net.graph.input_shape)) if encoding in ("rate", "ttfs") else 0
    raster = rasters * T * neurons
    need = outputs + spikes_in + raster
    if need > _available_bytes() // 2:
        raise DataError(
            f"simulating {n} samples for T={T} needs about {need / 2**30:.1f} GiB "
            f"(output per step {outputs / 2**30:.1f}, input spikes {spikes_in / 2**30:.1f}, "
            f"rasters {raster / 2**30:.1f}), more than half of this machine's memory",
            "use a smaller T, fewer samples per call, a smaller batch or fewer raster samples",
        )


def _engine(name: str) -> Callable:
    if name == "reference":
        from .engines.reference import run_reference

        return run_reference
    if name == "event":
        from .engines.event import run_event

        return run_event
    raise ValueError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")


def simulate(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    engine: str = "event",
    encoding: str = "direct",
    seed: int = 0,
    batch_size: int = 64,
    raster_samples: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Recording:
    """Simulate ``net`` on inputs ``x`` for ``T`` time steps.

    Parameters
    ----------
    net : SpikingNetwork
    x : numpy.ndarray
        Inputs (N,) + ``net.graph.input_shape``.
    T : int
        Number of time steps (≥ 1); accuracy at every t ≤ T comes from this one run.
    engine : {"event", "reference"}
        ``event``: Numba, propagates only spikes; ``reference``: dense NumPy ground truth.
    encoding : {"direct", "rate", "ttfs"}
        Input coding (see :mod:`eventsim.coding`); networks of TTFS neurons need ``ttfs``.
    seed : int
        Seed of the rate coding.
    batch_size : int
        Samples simulated together.
    raster_samples : sequence of int
        Indices of samples whose full spike rasters are recorded.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.

    Returns
    -------
    Recording
    """
    check_encoding(encoding)
    run = _engine(engine)
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise DataError(f"T must be a positive whole number of steps, got {T!r}")
    x = check_batch(x, net.graph.input_shape)
    if net.required_encoding not in (None, encoding):
        raise DataError(
            f"a network of TTFS neurons reads its input as single spikes, not with {encoding} coding",
            "simulate with encoding='ttfs' (--encoding ttfs)",
        )
    plan = Plan.build(net, encoding)
    neurons = np.array([int(np.prod(net.graph.node(name).shape)) for name in plan.layers], np.int64)
    batch_size = max(1, int(batch_size))
    _check_memory(len(x), int(T), net, int(neurons.sum()), batch_size, encoding, len(raster_samples))
    parts = []
    start = time.perf_counter()
    for first in range(0, len(x), batch_size):
        chunk = x[first : first + batch_size]
        wanted = tuple(i - first for i in raster_samples if first <= i < first + len(chunk))
        began = time.perf_counter()
        raw = run(plan, chunk, int(T), int(seed), first, wanted)
        parts.append(
            Recording(
                int(T),
                layers=plan.layers,
                neurons=neurons,
                synaptic_nodes=plan.synaptic,
                wall_seconds=time.perf_counter() - began,
                **raw,
            )
        )
        if progress is not None:
            progress(first + len(chunk), len(x))
    if not parts:
        raise DataError("no samples to simulate", "pass at least one sample")
    recording = Recording.merge(parts)
    recording.wall_seconds = time.perf_counter() - start
    recording.settings = {
        "engine": engine,
        "encoding": encoding,
        "seed": int(seed),
        "batch_size": batch_size,
        "bias_steps": net.bias_steps,
    }
    return recording
