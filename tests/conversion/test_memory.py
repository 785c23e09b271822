"""Calibration's memory estimate against what calibration allocates (tracemalloc's peak), and the one
refusal it shares with simulation and training when the estimate exceeds the budget."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
import eventsim.simulation.memory as memory
from eventsim.conversion.memory import calibration_parts
from eventsim.conversion.presets import resolve
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.compare import compare


@pytest.mark.parametrize(
    "model, data, preset, T, n, factor",
    [
        ("digits_cnn", "digits", "ftbc", 48, 80, 1.5),
        ("digits_cnn", "digits", "opi-opt", 48, 80, 1.5),
        ("digits_mlp", "digits", "ftbc", 64, 120, 1.5),
        ("mnist_lenet", "mnist", "opi-opt", 2, 256, 1.5),  # OPI's candidate counts in two parts
        ("mnist_resnet", "mnist", "ftbc", 12, 32, 1.5),  # a residual join keeps a branch's values alive
        ("mnist_resnet", "mnist", "opi-opt", 6, 24, 1.5),
        ("mnist_lenet", "mnist", "baseline", None, 300, 2.2),  # the ANN statistics alone
        ("digits_cnn", "digits", "robust", None, 300, 2.2),  # and the percentiles' reservoirs
    ],
)
def test_the_estimate_bounds_the_measured_peak_within_a_factor(model, data, preset, T, n, factor):
    """The largest stage's estimate is at least the peak that tracemalloc measures (NumPy reports its
    allocations to it) and at most ``factor`` times it."""
    graph = eventsim.load_onnx(example_model_path(model))
    x = load_example_data(data)["x_calib"][:n]
    options = {"ftbc_batch_size": n, "ftbc_batches": 1} if preset == "ftbc" else {"opi_samples": n}
    eventsim.convert(graph, x, preset, T=T, **options)  # compile the kernels and fill any caches first
    estimate = max(calibration_parts(graph, resolve(preset, T, **options), T, n).values())
    gc.collect()
    tracemalloc.start()
    try:
        eventsim.convert(graph, x, preset, T=T, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate <= factor * peak, (peak, estimate)


def test_the_estimate_grows_linearly_with_T(digits):
    graph, _ = digits
    settings = resolve("ftbc", 8)

    def ftbc(T: int, n: int = 100) -> int:
        return calibration_parts(graph, settings, T, n)["FTBC"]

    assert ftbc(3000) - ftbc(2000) == ftbc(2000) - ftbc(1000) > 0
    assert ftbc(1000, 200) == pytest.approx(2 * ftbc(1000, 100), rel=0.01)  # a batch of 200 instead of 100
    assert ftbc(1000, 400) == ftbc(1000, 200)  # FTBC's batches hold 200 samples at most
    assert calibration_parts(graph, resolve("opi"), None, 100).keys() == {"thresholds"}


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("preset, T", [("ftbc", 10_000_000), ("opi-opt", 1_000_000), ("auto", 1_000_000)])
def test_convert_refuses_a_T_too_large_before_calibrating(tmp_path, preset, T):
    data = load_example_data()
    np.savez(tmp_path / "calib.npz", x=data["x_calib"], y=data["y_calib"])
    out = tmp_path / "net.npz"
    result = _invoke("convert", example_model_path(), "--calib", tmp_path / "calib.npz", "--preset", preset,
                     "-T", T, "-o", out)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert [line.split(":")[0].strip() for line in lines] == ["error", "fix"], result.output  # nothing before
    assert "GiB of memory" in lines[0] and "budget" in lines[0] and f"T={T}" in lines[0]
    assert "smaller T" in lines[1]
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "calib.npz"]


def test_compare_refuses_before_any_conversion(tmp_path, digits):
    graph, data = digits
    lines = []
    with pytest.raises(eventsim.DataError, match="FTBC on batches of 200 samples for T=10000000"):
        compare(graph, data["x_calib"], data["x_test"], data["y_test"], ["baseline", "ftbc"], [1, 10_000_000],
                         progress=lines.append)  # fmt: skip
    assert lines == []  # refused before the first preset ran


def test_one_budget_for_simulation_calibration_and_training(monkeypatch, digits, digits_opi):
    """Every stage asks the same budget: shrink it and each refuses with the same sentence."""
    graph, data = digits
    net, x, _ = digits_opi
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 1000)  # a budget of 1000 bytes
    refusals = [
        lambda: eventsim.simulate(net, x, 64),
        lambda: eventsim.convert(graph, data["x_calib"], "ftbc", T=4),
        lambda: eventsim.convert(graph, data["x_calib"], "baseline"),
        lambda: eventsim.finetune(net, x, None, 4, teacher=graph, epochs=1),
    ]
    for refused in refusals:
        with pytest.raises(eventsim.DataError, match=r"than the budget of < 0\.1 GiB \(half of the memory available"):
            refused()


def test_a_containers_memory_limit_bounds_the_budget(monkeypatch, tmp_path):
    """cgroup v2's memory.max (or v1's limit) below the machine's memory is what a run may use;
    "max", a huge v1 number or no file leaves the machine's."""
    machine = memory.available_bytes()
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    monkeypatch.setattr(memory, "CGROUP_LIMITS", (str(v2), str(v1)))
    assert memory.available_bytes() == machine  # no files
    v2.write_text("max\n")
    v1.write_text("9223372036854771712\n")
    assert memory.available_bytes() == machine
    v2.write_text(f"{2**30}\n")
    assert memory.available_bytes() == 2**30 and memory.budget_bytes() == 2**29
