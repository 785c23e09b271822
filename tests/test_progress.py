"""Progress of the long runs: one line per layer, preset and T, epoch, with monotone counts, a final
100 % and an estimate of the time left from one helper; the command line prints them on stderr and
``--quiet`` silences them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
from eventsim.examples import example_model_path
from eventsim.measure.compare import compare
from eventsim.progress import ProgressLine, Tracker, duration, remaining_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_time_left_scales_the_time_taken_by_the_work_left():
    clock, lines = Clock(), []
    tracker = Tracker(lines.append, "task", [1, 3], clock=clock)
    tracker.note("started")
    clock.now = 2.0
    tracker.step("first")
    clock.now = 8.0
    tracker.step("second", result=True)
    first, one, two = lines
    assert isinstance(one, str) and one.startswith("task 1/2 (25%): first")
    assert first.remaining is None and "about ? left" in first
    assert one.fraction == 0.25 and one.remaining == pytest.approx(6.0) and "about 6 s left" in one
    assert two.done == two.total == 2 and two.fraction == 1.0 and two.remaining == 0.0 and two.result
    assert "done" in two and not one.result
    assert remaining_seconds(10.0, 3, 4, start=1) == pytest.approx(5.0)  # a resumed run times its own work
    assert [duration(s) for s in (0.4, 59, 125, 3720)] == ["0 s", "59 s", "2 min 05 s", "1 h 02 min"]
    assert Tracker(None, "silent", 3).step("nothing") is None


def _check(lines: list, task: str) -> list[ProgressLine]:
    """The lines of ``task``: counts that never go back, fractions in order, ending at 100 %."""
    mine = [line for line in lines if getattr(line, "task", None) == task]
    assert mine, f"no progress of {task!r} in {lines}"
    assert all(a.done <= b.done and a.fraction <= b.fraction for a, b in zip(mine, mine[1:]))
    assert mine[-1].done == mine[-1].total and mine[-1].fraction == pytest.approx(1.0)
    assert mine[-1].remaining == 0.0 and all(line.remaining is None or line.remaining >= 0 for line in mine)
    return mine


def test_calibration_reports_every_layer_of_every_batch(digits):
    graph, data = digits
    layers = [node.name for node in graph.activation_nodes()]
    lines: list = []
    eventsim.convert(graph, data["x_calib"], "ftbc", T=4, ftbc_batches=2, ftbc_batch_size=100, progress=lines.append)
    ftbc = _check(lines, "FTBC")
    assert [line.done for line in ftbc] == list(range(1, 2 * len(layers) + 1))
    assert [line.text.rsplit("layer ", 1)[1] for line in ftbc] == layers * 2
    assert [line.done for line in _check(lines, "thresholds")] == [1, 2]  # 256 + 44 samples
    lines.clear()
    eventsim.convert(graph, data["x_calib"], "opi-opt", T=4, progress=lines.append)
    assert [line.text.split()[1] for line in _check(lines, "OPI v0")] == layers


def test_auto_reports_each_candidate_and_the_choice(digits):
    graph, data = digits
    lines: list = []
    net = eventsim.convert(graph, data["x_calib"][:120], "auto", T=2, progress=lines.append)
    auto = _check(lines, "auto")
    scored = [line for line in auto if line.text.startswith("candidate")]
    assert len(scored) == len(net.meta["auto"]["candidates"]) and all(line.result for line in scored)
    assert auto[-1].text == f"chose {net.meta['auto']['chosen_name']}"


def test_compare_reports_each_preset_and_T(digits):
    graph, data = digits
    lines: list = []
    x, y = data["x_test"][:60], data["y_test"][:60]
    table = compare(graph, data["x_calib"], x, y, ["baseline", "opi-opt"], [1, 2, 4], progress=lines.append)
    runs = [line for line in _check(lines, "compare") if line.result]
    assert [line.text.split(":")[0] for line in runs] == ["baseline", "opi-opt", "opi-opt", "opi-opt"]
    assert [line.done for line in runs] == [1, 2, 3, 4]
    assert [line.fraction for line in runs] == pytest.approx([4 / 11, 5 / 11, 7 / 11, 1.0])  # weighted by T
    assert table["samples"] == 60
    assert [line.done for line in _check(lines, "simulate baseline (T=4)")] == [60]  # per batch of 64 samples
    assert all(_check(lines, f"simulate opi-opt (T={T})") for T in (1, 2, 4))


def test_training_and_fine_tuning_report_each_epoch(digits, digits_opi):
    graph, data = digits
    lines: list = []
    eventsim.train(graph, data["x_calib"][:100], data["y_calib"][:100], 2, epochs=3, batch_size=50,
                   progress=lines.append)  # fmt: skip
    epochs = [line for line in _check(lines, "training") if line.result]
    assert [line.done for line in epochs] == [2, 4, 6] and [line.text.split(":")[0] for line in epochs] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3",
    ]  # fmt: skip
    net, x, y = digits_opi
    lines.clear()
    eventsim.finetune(net, data["x_calib"][:80], data["y_calib"][:80], 2, teacher=graph, epochs=2, batch_size=32,
                      progress=lines.append)  # fmt: skip
    tuned = [line for line in _check(lines, "fine-tuning") if line.result]
    assert [line.text.split(":")[0] for line in tuned] == ["epoch 0/2", "epoch 1/2", "epoch 2/2"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from eventsim.examples import load_example_data

    data, folder = load_example_data(), tmp_path_factory.mktemp("progress")
    np.savez(folder / "calib.npz", x=data["x_calib"], y=data["y_calib"])
    np.savez(folder / "test.npz", x=data["x_test"][:80], y=data["y_test"][:80])
    return folder


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("quiet", [False, True])
def test_the_command_line_prints_progress_on_stderr_unless_quiet(files, tmp_path, quiet):
    convert = ["convert", example_model_path(), "--calib", files / "calib.npz", "--preset", "ftbc", "-T", 4]
    result = _run(*convert, "-o", tmp_path / "net.npz", *(["--quiet"] if quiet else []))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and "FTBC" not in result.stdout  # progress goes to stderr only
    simulate = ["simulate", tmp_path / "net.npz", "--data", files / "test.npz", "-T", 4]
    simulated = _run(*simulate, *(["-q"] if quiet else []))
    assert simulated.exit_code == 0, simulated.output
    if quiet:
        assert result.stderr == "" and simulated.stderr == ""
    else:
        assert "FTBC" in result.stderr and "(100%)" in result.stderr and "done]" in result.stderr
        assert "simulate (auto engine, T=4) 80/80 (100%)" in simulated.stderr
    refused = _run(*convert[:-1], 10_000_000, "-o", tmp_path / "big.npz", *(["--quiet"] if quiet else []))
    assert refused.exit_code == 2 and refused.stderr.startswith("error:") and not (tmp_path / "big.npz").exists()


def test_compare_uses_the_first_N_test_samples(files, tmp_path):
    result = _run("compare", example_model_path(), "--calib", files / "calib.npz", "--data", files / "test.npz",
                  "--presets", "opi", "-T", "2,4", "--samples", 25, "--out", tmp_path, "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    table = json.loads((tmp_path / "compare.json").read_text())
    assert table["samples"] == 25
    refused = _run("compare", example_model_path(), "--calib", files / "calib.npz", "--data", files / "test.npz",
                   "--samples", 0)  # fmt: skip
    assert refused.exit_code == 2 and "--samples" in refused.output


def test_the_printer_keeps_results_and_ends_and_thins_out_the_rest(capsys, monkeypatch):
    from eventsim.cli import main as cli

    clock = Clock()
    monkeypatch.setattr(cli.time, "monotonic", clock)
    printer, lines = cli._ProgressPrinter(interval=1.0), []
    tracker = Tracker(lines.append, "FTBC", 5, clock=clock)
    for k in range(4):
        clock.now = 0.3 * k
        tracker.step(f"layer {k}")
    tracker.step("result", result=True)
    tracker.resize(6)
    clock.now = 1.5
    tracker.step("layer 5")
    for line in lines:
        printer(line)
    printed = capsys.readouterr().err.splitlines()
    # the first line, then nothing for a second but the result, the last line of the task
    assert [line.split(": ")[1].split(" [")[0] for line in printed] == ["layer 0", "result", "layer 5"]
