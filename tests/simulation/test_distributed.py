"""``simulate`` on a Dask cluster against the same run in one process (its oracle): the recordings are
bit-identical whatever the chunks, rasters land on the right samples, and bad cluster arguments are
refused with one message."""

from __future__ import annotations

import numpy as np
import pytest
from checks import assert_identical
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snn_builders import grid, random_networks, single_layer

import eventsim

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    """A two-worker local cluster (worker processes, one thread each) for the module's tests."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield cluster.scheduler_address
    cluster.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    case=random_networks(),
    extra=st.integers(0, 9),
    chunk=st.integers(1, 5),
    encoding=st.sampled_from(["direct", "rate"]),
    engine=st.sampled_from(["event", "layer"]),
)
def test_a_cluster_run_is_the_in_process_run(scheduler, case, extra, chunk, encoding, engine):
    """Chunks of any size, any number of samples, rate coding included (each sample's input stream is
    keyed by its index): outputs, spikes, synaptic events and rasters bit for bit."""
    net, x = case
    x = np.concatenate([x, grid(np.random.default_rng(extra), (extra,) + x.shape[1:], 0.0, 1.0, 0.125)])
    rasters = (0, len(x) - 1)
    kwargs = {"encoding": encoding, "seed": 4, "raster_samples": rasters, "engine": engine, "batch_size": 2}
    here = eventsim.simulate(net, x, 6, **kwargs)
    there = eventsim.simulate(net, x, 6, cluster=scheduler, chunk_size=chunk, **kwargs)
    assert_identical(here, there)
    assert there.settings["tasks"] == -(-len(x) // chunk) and there.settings["tasks_retried"] == 0


def test_a_local_cluster_started_for_the_run_reports_progress(scheduler):
    """``cluster="local"`` starts its own workers; progress follows the chunks to the last sample."""
    rng = np.random.default_rng(2)
    net, x = single_layer(rng, 5, 6, 0.5, 0.25), grid(rng, (7, 5), 0.0, 1.0, 0.125)
    seen = []
    rec = eventsim.simulate(
        net, x, 4, cluster="local", workers=2, chunk_size=2, progress=lambda d, n: seen.append((d, n))
    )
    assert_identical(eventsim.simulate(net, x, 4), rec)
    assert seen[-1] == (len(x), len(x)) and len(seen) == -(-len(x) // 2)


def test_bad_cluster_arguments_are_refused_by_name(scheduler):
    rng = np.random.default_rng(3)
    net, x = single_layer(rng, 5, 6, 0.5, 0.25), grid(rng, (2, 5), 0.0, 1.0, 0.125)
    with pytest.raises(eventsim.DataError, match="cannot reach a Dask scheduler"):
        eventsim.simulate(net, x, 2, cluster="tcp://127.0.0.1:9")
    with pytest.raises(eventsim.DataError, match="local cluster only"):
        eventsim.simulate(net, x, 2, cluster=scheduler, workers=3)


def test_the_cli_simulates_on_a_cluster(tmp_path, scheduler):
    """``simulate --cluster ADDRESS`` prints what the in-process run prints, but its timing; a
    scheduler that is not there is one message and exit 2."""
    from click.testing import CliRunner
    from eventsim.cli.main import main

    rng = np.random.default_rng(5)
    net = single_layer(rng, 5, 6, 0.5, 0.25)
    net.save(tmp_path / "net.npz")
    np.savez(tmp_path / "d.npz", x=grid(rng, (9, 5), 0.0, 1.0, 0.125), y=rng.integers(0, 2, 9))
    args = ["simulate", str(tmp_path / "net.npz"), "--data", str(tmp_path / "d.npz"), "-T", "8", "--json"]
    here = CliRunner().invoke(main, args + [str(tmp_path / "here.json")])
    there = CliRunner().invoke(main, args + [str(tmp_path / "there.json"), "--cluster", scheduler])
    assert here.exit_code == 0 and there.exit_code == 0, there.output
    import json

    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("here", "there"))
    assert a["accuracy"] == b["accuracy"] and a["spikes_per_sample"] == b["spikes_per_sample"]
    bad = CliRunner().invoke(main, args + [str(tmp_path / "bad.json"), "--cluster", "tcp://127.0.0.1:9"])
    assert bad.exit_code == 2 and "cannot reach a Dask scheduler" in bad.output and "Traceback" not in bad.output


def test_a_worker_killed_mid_run_is_survived_and_reported():
    """A worker process killed while it simulates a chunk: the scheduler runs the chunk again on
    another worker, the recording is still the in-process one (nothing lost, nothing counted twice),
    and the retried chunk is reported."""
    import os
    import threading
    import time

    rng = np.random.default_rng(6)
    net, x = single_layer(rng, 5, 6, 0.5, 0.25), grid(rng, (12, 5), 0.0, 1.0, 0.125)
    T = 20_000  # each one-sample chunk runs long enough to be caught at work
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = distributed.Client(cluster)
    result = {}
    try:
        run = threading.Thread(
            target=lambda: result.update(
                rec=eventsim.simulate(net, x, T, cluster=cluster.scheduler_address, chunk_size=1, engine="event")
            )  # fmt: skip
        )
        run.start()
        busy = {}
        while not busy and run.is_alive():  # a worker that is running a chunk now
            busy = {w: tasks for w, tasks in client.processing().items() if tasks}
            time.sleep(0.05)
        victim = next(iter(busy))
        client.run(os._exit, 1, workers=[victim], on_error="ignore")  # the worker dies mid-chunk
        run.join(timeout=300)
    finally:
        client.close()
        cluster.close()
    rec = result["rec"]
    assert_identical(eventsim.simulate(net, x, T, engine="event"), rec)
    assert rec.settings["tasks_retried"] >= 1


def test_compare_on_a_cluster_is_compare_in_process(scheduler):
    """The accuracy table of every preset at every step, simulated on the cluster, is the in-process
    one; ``cluster="local"`` starts one cluster for the whole table."""
    from eventsim.measure.compare import compare

    graph = eventsim.load_onnx(eventsim.examples.example_model_path("digits_mlp"))
    data = eventsim.examples.load_example_data("digits")
    args = (graph, data["x_calib"][:64], data["x_test"][:40], data["y_test"][:40], ["opi", "ftbc"], [1, 2, 4])
    here = compare(*args, ftbc_batches=1, ftbc_batch_size=64)
    there = compare(*args, ftbc_batches=1, ftbc_batch_size=64, cluster=scheduler)
    assert there.pop("cluster") == scheduler and here == there
    local = compare(*args, ftbc_batches=1, ftbc_batch_size=64, cluster="local", workers=2)
    assert local.pop("cluster") == "local" and local == here


def test_auto_scores_its_candidates_on_a_cluster_as_in_process(scheduler):
    """``auto``'s search on the cluster (calibration and held-out simulation of each candidate on the
    workers) scores every candidate as the in-process search does and makes the same network."""
    graph = eventsim.load_onnx(eventsim.examples.example_model_path("digits_mlp"))
    data = eventsim.examples.load_example_data("digits")
    x, y = data["x_calib"][:80], data["y_calib"][:80]
    options = {"ftbc_batches": 1, "ftbc_batch_size": 32, "opi_samples": 16}
    here = eventsim.convert(graph, x, "auto", T=4, calib_y=y, **options)
    lines = []
    there = eventsim.convert(graph, x, "auto", T=4, calib_y=y, cluster=scheduler, progress=lines.append, **options)
    assert there.fingerprint() == here.fingerprint()
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in there.meta["auto"]["candidates"]] == [
        {k: v for k, v in r.items() if k not in drop} for r in here.meta["auto"]["candidates"]
    ]
    assert there.meta["auto"]["cluster"] == {"cluster": scheduler, "tasks_retried": 0}
    scored = [line for line in lines if line.task == "auto" and line.text.startswith("candidate")]
    assert len(scored) == len(here.meta["auto"]["candidates"])


def test_the_cli_converts_with_auto_on_a_cluster(tmp_path, scheduler):
    """``convert --preset auto --cluster ADDRESS`` writes the network the in-process search makes;
    --cluster with another preset is refused with one message."""
    from click.testing import CliRunner
    from eventsim.cli.main import main

    model = str(eventsim.examples.example_model_path("digits_mlp"))
    data = eventsim.examples.load_example_data("digits")
    np.savez(tmp_path / "calib.npz", x=data["x_calib"][:60], y=data["y_calib"][:60])
    args = ["convert", model, "-T", "4", "--calib", str(tmp_path / "calib.npz"), "--ftbc-batches", "1"]
    here = CliRunner().invoke(main, args + ["-o", str(tmp_path / "here.npz")])
    there = CliRunner().invoke(main, args + ["-o", str(tmp_path / "there.npz"), "--cluster", scheduler])
    assert here.exit_code == 0 and there.exit_code == 0, there.output
    nets = [eventsim.SpikingNetwork.load(tmp_path / f"{n}.npz") for n in ("here", "there")]
    assert nets[0].fingerprint() == nets[1].fingerprint()
    bad = CliRunner().invoke(main, args + ["--preset", "opi", "-o", str(tmp_path / "b.npz"), "--cluster", scheduler])
    assert bad.exit_code == 2 and "--cluster applies to preset auto" in bad.output and "Traceback" not in bad.output
