"""``simulate``: run a spiking network on a batch of inputs for T steps with a chosen engine."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..data import check_batch
from ..errors import DataError
from ..snn.coding import check_encoding
from ..snn.network import SpikingNetwork
from .engines import get_engine
from .memory import available_bytes as _available_bytes  # noqa: F401 (the name callers knew)
from .memory import require_memory
from .plan import Batch, SimulationPlan
from .recording import Recording
from .threads import single_threaded_blas


def simulation_parts(
    graph, layer_sizes: Sequence[int], T: int, encoding: str, n: int, batch: int, rasters: int
) -> dict[str, int]:
    """What a simulation of ``n`` samples for ``T`` steps holds that grows with T, in bytes by part: the
    output at every step, a batch's spike-coded input, the rasters (a byte per neuron and step) and
    the per-step tables (phases per layer, output weights). ``layer_sizes``: neurons per layer."""
    return {
        "output per step": n * T * int(np.prod(graph.output_shape)) * 4,
        "input spikes": batch * T * int(np.prod(graph.input_shape)) if encoding != "direct" else 0,
        "rasters": rasters * T * int(sum(layer_sizes)),
        "per-step tables": T * (len(layer_sizes) + 2) * 4,
    }


def _check_memory(net: SpikingNetwork, T: int, encoding: str, n: int, batch: int, rasters: int) -> None:
    """Refuse runs whose recording (or per-batch buffers, or per-step tables) would not fit in the
    memory budget; checked before anything of size T is made."""
    sizes = [int(np.prod(net.graph.node(name).shape)) for name in net.layer_names]
    require_memory(
        f"simulating {n} samples for T={T}",
        simulation_parts(net.graph, sizes, T, encoding, n, batch, rasters),
        "use a smaller T (-T), fewer samples per call (--samples), a smaller batch or fewer raster samples",
    )


def _check_run(net: SpikingNetwork, T, encoding: str) -> None:
    check_encoding(encoding)
    if not isinstance(T, (int, np.integer)) or T < 1:
        raise DataError(f"T must be a positive whole number of steps, got {T!r}")
    needed = net.required_encoding
    if needed not in (None, encoding):
        kind = next(x.spec for x in net.layers.values() if x.spec.coding == needed)
        raise DataError(
            f"a network of {kind.name} neurons reads its input with {needed} coding, not with {encoding} coding",
            f"simulate with encoding={needed!r} (--encoding {needed})",
        )
    usable = net.encodings
    if usable is not None and encoding not in usable:
        raise DataError(
            f"a network converted from an ANN reads its input as values or rates ({' or '.join(usable)} coding); "
            f"{encoding} coding would give it other inputs than the ANN's",
            f"simulate with encoding={usable[0]!r} (--encoding {usable[0]}) or {usable[-1]!r}",
        )


def simulate(
    net: SpikingNetwork,
    x: np.ndarray,
    T: int,
    engine: str = "auto",
    encoding: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    raster_samples: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
    engine_options: Mapping[str, object] | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    chunk_size: int | None = None,
) -> Recording:
    """Simulate ``net`` on inputs ``x`` for ``T`` time steps.

    Parameters
    ----------
    net : SpikingNetwork
    x : numpy.ndarray
        Inputs (N,) + ``net.graph.input_shape``.
    T : int
        Number of time steps (≥ 1); accuracy at every t ≤ T comes from this one run.
    engine : str
        A registered engine (:mod:`eventsim.simulation.engines`): ``auto`` (per batch the faster of
        the next two), ``event`` (Numba, step by step, propagates only spikes), ``layer`` (Numba, layer
        by layer over all steps, events or BLAS per layer) or ``reference`` (dense NumPy ground truth).
    encoding : {"direct", "rate", "ttfs", "latency"}, optional
        Input coding (see :mod:`eventsim.snn.coding`); default the one the network's neurons need
        (``ttfs`` for TTFS and single-spike neurons), else ``direct``.
    seed : int
        Seed of the rate coding.
    batch_size : int
        Samples simulated together.
    raster_samples : sequence of int
        Indices of samples whose full spike rasters are recorded.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.
    engine_options : mapping, optional
        Keyword options of the engine (``layer``: ``method`` "auto", "events" or "dense", ``memory``
        budget in bytes, ``costs``).
    cluster : str, optional
        Run on a Dask cluster (:mod:`eventsim.simulation.distributed`; ``pip install
        "eventsim[dask]"``): ``"local"`` starts a ``LocalCluster`` of ``workers`` processes for this
        run, an address (``tcp://host:8786``) connects to a running scheduler. The recording is the
        same, bit for bit, as in one process.
    workers : int, optional
        Worker processes of a local cluster (default: the cores, at most 4).
    chunk_size : int, optional
        Samples per task on a cluster (default 256).

    Returns
    -------
    Recording
    """
    encoding = encoding or net.default_encoding
    _check_run(net, T, encoding)
    get_engine(engine)  # an unknown name is refused before the data are looked at
    x = check_batch(x, net.graph.input_shape)
    if not len(x):
        raise DataError("no samples to simulate", "pass at least one sample")
    batch_size = max(1, int(batch_size))
    _check_memory(net, int(T), encoding, len(x), batch_size, len(raster_samples))
    run = RunSettings(int(T), engine, encoding, int(seed), batch_size, engine_options)
    if cluster is not None:
        from .distributed import simulate_on_cluster

        return simulate_on_cluster(net, x, run, raster_samples, cluster, workers, chunk_size, progress)
    return run_samples(net, x, run, raster_samples, progress=progress)


@dataclass(frozen=True)
class RunSettings:
    """How the samples of a :func:`simulate` call are simulated, checked: the same in this process
    and on every worker of a cluster."""

    T: int
    engine: str
    encoding: str
    seed: int
    batch_size: int
    engine_options: Mapping[str, object] | None = None


def run_samples(
    net: SpikingNetwork,
    x: np.ndarray,
    run: RunSettings,
    raster_samples: Sequence[int] = (),
    first_index: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Recording:
    """:func:`simulate` in this process, ``x`` being samples ``first_index`` … of the whole data set
    (what a cluster's worker runs on its chunk)."""
    with single_threaded_blas():  # see eventsim.simulation.threads
        plan = SimulationPlan.build(net, run.T, run.encoding, run.seed)
        runner = _engine(run.engine, plan, run.engine_options)
        recording = _run_batches(runner, x, run.batch_size, raster_samples, progress, first_index)
    recording.settings = {
        **runner.report(),
        "engine": run.engine,
        "encoding": run.encoding,
        "seed": run.seed,
        "batch_size": run.batch_size,
        "bias_steps": net.bias_steps,
    }
    return recording


def _engine(engine: str, plan: SimulationPlan, engine_options: Mapping[str, object] | None):
    """The engine ``engine`` for ``plan`` with its options; options it does not take are refused."""
    engine_class, options = get_engine(engine), dict(engine_options or {})
    try:
        inspect.signature(engine_class).bind(plan, **options)
    except TypeError:
        taken = [p for p in inspect.signature(engine_class).parameters if p != "plan"]
        raise DataError(
            f"engine {engine!r} does not take the options {sorted(options)}",
            f"it takes: {', '.join(taken) or 'none'}",
        ) from None
    return engine_class(plan, **options)


def _run_batches(runner, x: np.ndarray, batch_size: int, raster_samples, progress, offset: int = 0) -> Recording:
    """Run ``x`` (samples ``offset`` … of the data set) through ``runner`` in batches; the merged
    recording."""
    parts = []
    start = time.perf_counter()
    for first in range(0, len(x), batch_size):
        chunk = x[first : first + batch_size]
        wanted = tuple(i - first for i in raster_samples if first <= i < first + len(chunk))
        began = time.perf_counter()
        part = runner.run(Batch(chunk, offset + first, wanted))
        part.wall_seconds = time.perf_counter() - began
        parts.append(part)
        if progress is not None:
            progress(first + len(chunk), len(x))
    recording = Recording.merge(parts)
    recording.wall_seconds = time.perf_counter() - start
    return recording
