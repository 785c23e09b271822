"""One name per concept, help on every option, options checked at the door, and networks that say
how they want to be run (the T and the coding a TTFS network needs)."""

from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
from eventsim.conversion.presets import resolve
from eventsim.errors import DataError, OptionError
from eventsim.examples import example_model_path


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result, *fragments: str):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Calibration and test data of the bundled model, an opi network and a TTFS network (window 4)."""
    tmp = tmp_path_factory.mktemp("cli")
    data = eventsim.examples.load_example_data()
    np.savez(tmp / "calib.npz", x=data["x_calib"][:64])
    np.savez(tmp / "test.npz", x=data["x_test"][:30], y=data["y_test"][:30])
    graph = eventsim.load_onnx(example_model_path())
    eventsim.convert(graph, data["x_calib"][:64], "opi", T=16).save(tmp / "opi.npz")
    eventsim.convert(graph, data["x_calib"][:64], "ttfs", window=4).save(tmp / "ttfs.npz")
    return tmp


def test_every_option_has_help():
    missing = []
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{name} {param.opts[0]}")
    assert missing == []


def test_debug_works_after_the_command(tmp_path):
    result = CliRunner().invoke(main, ["inspect", str(tmp_path / "none.onnx"), "--debug"])
    assert result.exit_code == 2 and "Traceback (most recent call last)" in result.output


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--percentile", "150"], "percentile"),
        (["--percentile", "-5"], "percentile"),
        (["--ftbc-batches", "0"], "ftbc_batches"),
        (["--ftbc-batch-size", "0"], "ftbc_batch_size"),
        (["--alpha", "-1"], "alpha"),
    ],
)
def test_conversion_options_out_of_range_are_refused(files, flags, fragment):
    out = files / "bad.npz"
    result = run("convert", example_model_path(), "--calib", files / "calib.npz", "--preset", "ftbc", "-T", "4",
                 *flags, "-o", out)  # fmt: skip
    assert_user_error(result, fragment)
    assert not out.exists()


def test_library_checks_the_same_ranges():
    for options in ({"percentile": 0.0}, {"alpha": float("nan")}, {"ftbc_batches": 1.5}, {"seed": -1}):
        with pytest.raises(OptionError, match=next(iter(options))):
            resolve("ftbc", 4, **options)
    with pytest.raises(OptionError, match="T must be a whole number"):
        resolve("ftbc", 0)
    assert resolve("robust", None, percentile=100.0)["percentile"] == 100.0


@pytest.mark.parametrize("args", [["convert", "MODEL", "-T", "0", "-o", "x.npz"], ["demo", "-T", "0"]])
def test_zero_steps_are_refused_at_the_door(args):
    result = run(*[str(example_model_path()) if a == "MODEL" else a for a in args])
    assert result.exit_code == 2 and "Traceback" not in result.output and "-T" in result.output


def test_energy_table_is_energy_preset_and_the_old_name_still_works(files):
    base = ("energy", files / "opi.npz", "--data", files / "test.npz", "-T", "8")
    new = run(*base, "--energy-preset", "loihi")
    old = run(*base, "--preset", "loihi")
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert "loihi" in new.output and "--energy-preset" in old.output
    assert "accuracy at T=8" in new.output  # the accuracy of the run it prices
    both = run(*base, "--energy-preset", "loihi", "--costs", files / "none.json")
    assert both.exit_code == 2 and "either --energy-preset or --costs" in both.output


def test_simulate_and_energy_default_to_the_networks_own_steps(files):
    for command in ("simulate", "energy"):
        result = run(command, files / "opi.npz", "--data", files / "test.npz", "--json", files / f"{command}.json")
        assert result.exit_code == 0, result.output
        assert json.loads((files / f"{command}.json").read_text())["T"] == 16  # the T it was calibrated for


def test_ttfs_network_runs_with_its_steps_and_coding_and_warns_when_short(files):
    net = eventsim.SpikingNetwork.load(files / "ttfs.npz")
    needed = net.result_steps
    assert net.intended_steps == needed and net.default_encoding == "ttfs"
    result = run("simulate", files / "ttfs.npz", "--data", files / "test.npz", "--json", files / "t.json")
    assert result.exit_code == 0, result.output
    summary = json.loads((files / "t.json").read_text())
    assert summary["T"] == needed and summary["steps"][-1] == needed  # the final step is printed
    assert f"\n{needed:6d} " in result.output
    short = run("simulate", files / "ttfs.npz", "--data", files / "test.npz", "-T", str(needed - 1))
    assert short.exit_code == 0 and f"shorter than the {needed} steps" in short.output


def test_a_converted_network_refuses_codings_that_are_not_its_inputs(files):
    for coding in ("ttfs", "latency"):
        result = run("simulate", files / "opi.npz", "--data", files / "test.npz", "-T", "4", "--encoding", coding)
        assert_user_error(result, f"{coding} coding", "--encoding direct")
    net = eventsim.SpikingNetwork.load(files / "opi.npz")
    with pytest.raises(DataError, match="converted from an ANN"):
        eventsim.simulate(net, np.zeros((1,) + net.graph.input_shape, np.float32), 4, encoding="ttfs")


def test_convert_says_how_to_simulate_a_ttfs_network(files):
    result = run("convert", example_model_path(), "--calib", files / "calib.npz", "--preset", "ttfs", "--window", "4",
                 "-T", "16", "-o", files / "t2.npz")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "calibrated for" not in result.output  # nothing of a TTFS conversion depends on T
    needed = eventsim.SpikingNetwork.load(files / "t2.npz").result_steps
    assert f"-T {needed} --encoding ttfs" in result.output


def test_compare_marks_calib_required_and_reads_it_with_its_own_keys(files):
    data = eventsim.examples.load_example_data()
    np.savez(files / "own_keys.npz", images=data["x_calib"][:64])
    base = ("compare", example_model_path(), "--data", files / "test.npz", "--presets", "opi", "-T", "1,2")
    missing = run(*base)
    assert missing.exit_code == 2 and "Missing option '--calib'" in missing.output
    result = run(*base, "--calib", files / "own_keys.npz", "--calib-x-key", "images")
    assert result.exit_code == 0, result.output
    wrong = run(*base, "--calib", files / "own_keys.npz")  # test keys on the calibration file
    assert_user_error(wrong, "'x'")


def test_demo_refuses_a_T_too_large_for_memory_before_any_work(tmp_path):
    result = run("demo", "-T", "10000000", "--out", tmp_path / "demo")
    assert_user_error(result, "T=10000000", "GiB", "smaller T")
    assert "== accuracy" not in result.output and not (tmp_path / "demo").exists()


def test_integer_images_get_a_range_warning(files):
    data = eventsim.examples.load_example_data()
    raw = np.round(data["x_test"][:20] * 255).astype(np.uint8)
    np.savez(files / "raw.npz", x=raw, y=data["y_test"][:20])
    result = run("simulate", files / "opi.npz", "--data", files / "raw.npz", "-T", "4")
    assert result.exit_code == 0, result.output
    assert "warning: array 'x'" in result.output and "x / 255" in result.output and "Traceback" not in result.output
