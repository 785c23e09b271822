"""``simulate`` on a Dask cluster: the samples cut into chunks, each chunk simulated by a worker, the
recordings merged in order.

Simulation is independent per sample (each sample's rate-coded input has its own random stream,
keyed by its index in the whole data set), so a chunk simulated on a worker with its first index
gives what the same samples give in one process, bit for bit; :meth:`Recording.merge` joins the
chunks as if they had been simulated together. The network is sent to the workers once
(``scatter(broadcast=True)``); a task whose worker dies is run again on another by the scheduler,
one that raises is retried (``retries``), and the chunks that ran more than once are reported
(from the scheduler's transition log); a task that fails on every try fails the run, so no chunk is
lost or counted twice. Each worker runs Numba on its share of its machine's cores (the cores over
the workers on the same host), so that the workers of one machine do not oversubscribe its cores —
Dask does not limit Numba's threads itself.

``dask.distributed`` is imported here only, when a cluster is asked for: the core install does not
need it (``pip install "eventsim[dask]"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, UnsupportedError
from ..snn.network import SpikingNetwork
from .api import RunSettings, run_samples
from .recording import Recording

#: Samples per task when the caller does not say: enough to amortise a task's overhead (about a
#: millisecond) and small enough to spread a few thousand samples over many workers.
DEFAULT_CHUNK = 256

#: Tries of a task after its first that raised (a task whose worker dies is rescheduled by the
#: scheduler on its own, up to its ``allowed-failures``).
RETRIES = 2


@dataclass(frozen=True)
class ChunkJob:
    """What a worker needs besides the network to simulate one chunk."""

    run: RunSettings
    first_index: int
    raster_samples: tuple[int, ...]
    workers_per_host: Mapping[str, int]


def _no_workers(workers: int | None) -> None:
    """A number of workers goes with a local cluster only."""
    if workers is not None:
        raise DataError("--workers applies to a local cluster only", "start the workers of a remote cluster yourself")


def _client(cluster: str, workers: int | None):
    """A ``distributed.Client``: a new ``LocalCluster`` of worker processes for ``"local"``, else a
    connection to the scheduler at the address ``cluster``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UnsupportedError(
            "simulating on a cluster needs dask.distributed, which is not installed",
            'pip install "eventsim[dask]"',
        ) from None
    if cluster == "local":
        n = workers or max(1, min(4, os.cpu_count() or 1))
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        return Client(local), local
    _no_workers(workers)
    try:
        return Client(cluster, timeout="10s"), None
    except OSError as error:
        raise DataError(
            f"cannot reach a Dask scheduler at {cluster!r}: {error}",
            "pass the scheduler's address (tcp://host:8786) or --cluster local",
        ) from None


@contextmanager
def cluster_session(cluster: str | None, workers: int | None = None) -> Iterator[str | None]:
    """The scheduler address for several runs on one cluster: ``"local"`` starts a ``LocalCluster``
    of ``workers`` processes for the session (whose workers keep their compiled kernels between
    runs) and closes it after; an address is used as it is; None (no cluster) stays None."""
    if cluster != "local":
        if cluster is not None:
            _no_workers(workers)
        yield cluster
        return
    client, local = _client(cluster, workers)
    client.close()
    try:
        yield local.scheduler_address
    finally:
        local.close()


def _share_cores(workers_per_host: Mapping[str, int]) -> None:
    """Run on a worker: set Numba's threads to this worker's share of its host's cores."""
    import numba
    from distributed import get_worker

    host = get_worker().address.rsplit(":", 1)[0]
    share = (os.cpu_count() or 1) // max(1, workers_per_host.get(host, 1))
    numba.set_num_threads(max(1, min(share, numba.config.NUMBA_NUM_THREADS)))


def _simulate_chunk(net: SpikingNetwork, x: np.ndarray, job: ChunkJob) -> Recording:
    """Run on a worker: ``x`` simulated as samples ``job.first_index`` … of the whole data set."""
    _share_cores(job.workers_per_host)
    return run_samples(net, x, job.run, job.raster_samples, job.first_index)


def _workers_per_host(client) -> dict[str, int]:
    """How many of the cluster's workers run on each host."""
    per_host: dict[str, int] = {}
    for address in client.scheduler_info().get("workers", {}):
        host = address.rsplit(":", 1)[0]
        per_host[host] = per_host.get(host, 0) + 1
    return per_host


def _call(fn: Callable, shared, item, workers_per_host: Mapping[str, int]):
    """Run on a worker: ``fn(shared, item)`` on the worker's share of its host's cores."""
    _share_cores(workers_per_host)
    return fn(shared, item)


def map_on_cluster(fn: Callable, shared, items: Sequence, cluster: str, workers: int | None = None) -> tuple[list, int]:
    """``[fn(shared, item) for item in items]`` on a Dask cluster: ``shared`` sent to every worker
    once, one task per item (retried as the chunks of a simulation are), results in order.

    ``fn`` must be a module-level function (it is pickled by reference). Returns the results and how
    many tasks ran more than once; a task that failed on every try raises its error.
    """
    client, local = _client(cluster, workers)
    try:
        per_host = _workers_per_host(client)
        data = client.scatter(shared, broadcast=True)
        futures = [client.submit(_call, fn, data, item, per_host, retries=RETRIES, pure=False) for item in items]
        results = client.gather(futures)
        return results, _retried(client, [f.key for f in futures])
    finally:
        client.close()
        if local is not None:
            local.close()


def simulate_on_cluster(
    net: SpikingNetwork,
    x: np.ndarray,
    run: RunSettings,
    raster_samples: Sequence[int],
    cluster: str,
    workers: int | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Recording:
    """:func:`eventsim.simulate`'s run on a Dask cluster (module docstring); its arguments checked."""
    client, local = _client(cluster, workers)
    try:
        return _run(client, net, x, run, raster_samples, chunk_size or DEFAULT_CHUNK, progress)
    finally:
        client.close()
        if local is not None:
            local.close()


def _run(client, net, x, run: RunSettings, raster_samples, chunk: int, progress):
    """Submit one task per chunk of ``chunk`` samples, gather the recordings in order, merge them."""
    from distributed import as_completed

    per_host = _workers_per_host(client)
    shared = client.scatter(net, broadcast=True)
    futures = []
    for first in range(0, len(x), chunk):
        rows = x[first : first + chunk]
        wanted = tuple(i - first for i in raster_samples if first <= i < first + len(rows))
        job = ChunkJob(run, first, wanted, per_host)
        futures.append(client.submit(_simulate_chunk, shared, rows, job, retries=RETRIES, pure=False))
    done = 0
    for future in as_completed(futures):
        done += future.result().samples  # a task that failed on every try raises here, by its error
        if progress is not None:
            progress(done, len(x))
    parts = [f.result() for f in futures]
    retried = _retried(client, [f.key for f in futures])
    recording = Recording.merge(parts)
    recording.settings = {**parts[0].settings, "cluster": cluster_name(client), "tasks": len(futures),
                          "tasks_retried": retried}  # fmt: skip
    return recording


def _retried(client, keys: list) -> int:
    """How many of the tasks ``keys`` the scheduler sent to a worker more than once (their worker
    died, or they raised and were retried), from its transition log."""

    def count(dask_scheduler, keys):
        return sum(1 for key in keys if sum(1 for entry in dask_scheduler.story(key) if entry[2] == "processing") > 1)

    return int(client.run_on_scheduler(count, keys=keys))


def cluster_name(client) -> str:
    """The scheduler's address, for the recording's settings."""
    return str(client.scheduler.address)
