"""``compare(finetune=...)``: the ftbc+finetune row (values exactly at the fine-tuned T's, None
elsewhere), its accuracy against an independent convert + finetune (distilled from the ANN) +
simulate, the ANN's outputs alone when the calibration data has no labels, the fine-tuning never
seeing the test data, and
``eventsim compare --finetune``."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
import eventsim.training
from eventsim.errors import DataError, OptionError
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure.compare import (
    FINETUNED,
    compare,
    finetune_steps,
    steps_to_reach,
    table_json,
    table_text,
)
from eventsim.measure.plots import accuracy_vs_steps_png
from eventsim.measure.summary import compare_csv

#: Few epochs and samples: these tests are about the plumbing, docs/finetune.md about the gains.
OPTIONS = {"epochs": 2, "seed": 3}


@pytest.fixture(scope="module")
def mlp():
    """The bundled digits MLP, 96 calibration samples with labels, 80 test samples."""
    data = load_example_data("digits")
    graph = eventsim.load_onnx(example_model_path("digits_mlp"))
    return graph, data["x_calib"][:96], data["y_calib"][:96], data["x_test"][:80], data["y_test"][:80]


@pytest.fixture(scope="module")
def table(mlp):
    graph, cx, cy, x, y = mlp
    return compare(graph, cx, x, y, ["ftbc"], [1, 2, 8], finetune=[1, 2], calib_y=cy, finetune_options=OPTIONS)


def test_row_has_values_exactly_at_the_finetuned_steps(table):
    row = table["presets"][FINETUNED]
    assert table["steps"] == [1, 2, 8] and list(table["presets"]) == ["ftbc", FINETUNED]
    assert [a is None for a in row["accuracy"]] == [False, False, True]
    record = row["finetuned"]
    assert record["steps"] == [1, 2] and record["labels"] == "calib_y" and record["samples"] == 96
    assert [run["T"] for run in record["runs"]] == [1, 2]
    assert all(run["epochs"] == 2 and run["seconds"] > 0 for run in record["runs"])
    assert row["spikes_per_neuron"] == record["runs"][-1]["spikes_per_neuron"] > 0
    # the text table prints a dash, the CSV an empty cell, the JSON null, the plot's copy NaN
    line = next(line for line in table_text(table).splitlines() if line.startswith(FINETUNED + " "))
    assert line.split()[3] == "—" and "(T=2)" in line
    assert "the calibration labels" in table_text(table)
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(compare_csv(table)))}
    assert rows[FINETUNED][2] == "" and rows[FINETUNED][0] == f"{100 * row['accuracy'][0]:.2f}"  # percent
    assert json.loads(table_json(table))["presets"][FINETUNED]["accuracy"][2] is None
    assert accuracy_vs_steps_png(table)[:4] == b"\x89PNG"  # the plot draws a row with gaps
    assert table["presets"][FINETUNED]["accuracy"][2] is None  # and leaves the table alone
    assert steps_to_reach(table, FINETUNED, margin=1.0) == 1  # None entries are skipped
    assert steps_to_reach(table, FINETUNED, margin=-1.0) is None


def test_accuracy_is_that_of_the_same_network_simulated(mlp, table):
    """Independent oracle: convert with ftbc, fine-tune from the ANN with the same options and seed,
    simulate."""
    graph, cx, cy, x, y = mlp
    for T, run in zip([1, 2], table["presets"][FINETUNED]["finetuned"]["runs"]):
        net = eventsim.convert(graph, cx, "ftbc", T=T)
        tuned = eventsim.finetune(net, cx, cy, T, teacher=graph, **OPTIONS).net
        rec = eventsim.simulate(tuned, x, T)
        assert run["accuracy"] == float(rec.accuracy(y)[-1])
        assert run["spikes_per_neuron"] == pytest.approx(rec.spikes_per_sample.sum(axis=1).mean() / rec.neurons.sum())


def test_without_labels_it_distils_from_the_ann_alone_never_seeing_the_test_data(mlp, monkeypatch):
    """The oracle for "alone": the ANN's decisions passed as labels with all weight on the soft
    targets (they then only stratify the held-out split, as the teacher's own decisions do)."""
    graph, cx, _, x, y = mlp
    seen = []
    real = eventsim.training.finetune

    def spy(net, xs, ys, T, **options):
        seen.append((xs, ys, options["teacher"]))
        return real(net, xs, ys, T, **options)

    monkeypatch.setattr(eventsim.training, "finetune", spy)
    kwargs = {"presets": [], "steps": [1, 16], "finetune": True, "finetune_options": {"epochs": 1}}
    plain = compare(graph, cx, x, y, **kwargs)
    ann = np.argmax(eventsim.run_ann(graph, cx).reshape(len(cx), -1), axis=1)
    given = compare(graph, cx, x, y, calib_y=ann, **kwargs | {"finetune_options": {"epochs": 1, "distill": 1.0}})
    assert plain["presets"][FINETUNED]["finetuned"]["labels"] == "ann"
    assert "the ANN's outputs on the calibration data (no labels)" in table_text(plain)
    for key in ("accuracy", "spikes_per_sample"):
        assert plain["presets"][FINETUNED][key] == given["presets"][FINETUNED][key]
    assert len(seen) == 2 and all(xs is cx and teacher is graph for xs, _, teacher in seen)
    assert seen[0][1] is None and np.array_equal(seen[1][1], ann)


def test_steps_and_bad_input(mlp):
    assert finetune_steps(True, [64, 1, 2, 16, 8]) == [1, 2, 8]
    assert finetune_steps(True, [32, 16]) == [16]
    assert finetune_steps(None, [1]) == finetune_steps(False, [1]) == []
    assert finetune_steps([4, 2, 4], [1]) == [2, 4]
    graph, cx, cy, x, y = mlp
    with pytest.raises(OptionError, match="positive"):
        compare(graph, cx, x, y, [], [1], finetune=[0])
    with pytest.raises(DataError, match="one per calibration input"):
        compare(graph, cx, x, y, [], [1], finetune=True, calib_y=cy[:10])


def test_cli_compare_finetune(mlp, tmp_path):
    graph, cx, cy, x, y = mlp
    np.savez(tmp_path / "calib.npz", x=cx, y=cy)
    np.savez(tmp_path / "test.npz", x=x, y=y)
    model = example_model_path("digits_mlp")
    args = ["compare", model, "--calib", tmp_path / "calib.npz", "--data", tmp_path / "test.npz", "--presets", "ftbc"]
    run = [*args, "-T", "2,8", "--finetune-steps", "1", "--finetune-epochs", "1", "--out", tmp_path]
    result = CliRunner().invoke(main, [str(a) for a in run])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith(FINETUNED + " "))
    assert line.split()[2:4] == ["—", "—"]  # T=1 was added to the table; 2 and 8 were not fine-tuned
    assert "the calibration labels" in result.stdout
    assert f"{FINETUNED} T=1: 1 epoch of fine-tuning" in result.stderr
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["steps"] == [1, 2, 8] and doc["presets"][FINETUNED]["accuracy"][1:] == [None, None]
    assert (tmp_path / "compare.png").read_bytes().startswith(b"\x89PNG")
    result = CliRunner().invoke(main, [str(a) for a in args + ["--finetune-epochs", "1"]])
    assert result.exit_code == 2 and "--finetune-epochs needs --finetune" in result.output
