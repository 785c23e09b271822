"""Run reports: the JSON against its documented schema, the figures, the per-layer conversion error
against its closed-form bound, and the report and energy commands."""

from __future__ import annotations

import csv
import io
import json
from importlib.resources import files

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.io import file_sha256
from eventsim.measure.report import build_report

SCHEMA = json.loads(files("eventsim").joinpath("data/report.schema.json").read_text())
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def check_report_dir(directory):
    doc = json.loads((directory / "report.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["figures"], "no figures"
    for name in doc["figures"]:
        data = (directory / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, name
    assert not list(directory.glob(".*.tmp"))  # no leftovers of the atomic writes
    return doc


def test_report_document_and_figures(digits_opi, tmp_path):
    net, x, y = digits_opi
    rec = eventsim.simulate(net, x, 16, raster_samples=range(8))
    report = build_report(net, rec, x, y, presets=("memory-aware-45nm", "fp32-45nm", "loihi"))
    report.write(tmp_path)
    doc = check_report_dir(tmp_path)
    assert doc["run"]["network_sha256"] == net.fingerprint() and doc["run"]["T"] == 16
    assert doc["accuracy"]["snn_per_step"] == pytest.approx(rec.accuracy(y).tolist())
    assert list(doc["energy"]) == ["memory-aware-45nm", "fp32-45nm", "loihi"]
    assert doc["energy"]["loihi"]["ann_over_snn"] is None
    assert [e["layer"] for e in doc["conversion_error"]] == rec.layers
    assert set(doc["raster"]["layers"]) == set(rec.layers)
    assert {"accuracy.png", "raster.png", "energy.png", "latency.png"} <= set(doc["figures"])
    # without rasters there is no conversion error or raster, and the document is still valid
    plain = build_report(net, eventsim.simulate(net, x, 4), x, None, figures=False)
    jsonschema.validate(json.loads(plain.to_json()), SCHEMA)
    assert plain.data["raster"] is None and plain.data["accuracy"]["snn_per_step"] is None


def test_demo_writes_valid_reports(tmp_path):
    result = run("demo", "--out", tmp_path, "--samples", "60", "--steps", "1,4,8,32")
    assert result.exit_code == 0, result.output
    for text in ("OK", "baseline", "ftbc", "energy per sample", "not counted", "conversion error", "ANN/SNN"):
        assert text in result.output
    for preset in ("opi", "ftbc", "ttfs"):
        doc = check_report_dir(tmp_path / preset)
        assert doc["run"]["samples"] == 60 and doc["compare"]["steps"] == [1, 4, 8, 32]
        assert doc["run"]["network_meta"]["preset"] == preset
        assert doc["run"]["network_meta"]["source_sha256"] == file_sha256(example_model_path())
    tuned = check_report_dir(tmp_path / "ftbc+finetune")  # ftbc fine-tuned at the small T's, one of them detailed
    assert tuned["run"]["network_meta"]["preset"] == "ftbc" and tuned["run"]["T"] in (1, 4)
    assert tuned["run"]["network_meta"]["finetune"]["T"] == tuned["run"]["T"]
    assert [a is None for a in tuned["compare"]["presets"]["ftbc+finetune"]["accuracy"]] == [False, False, True, True]
    assert "every detailed network and of the ANN" in result.output
    ttfs = json.loads((tmp_path / "ttfs" / "report.json").read_text())
    assert ttfs["run"]["encoding"] == "ttfs" and all(layer["kind"] == "ttfs" for layer in ttfs["layers"])
    assert max(max(layer["spikes_per_step"]) for layer in ttfs["layers"]) > 0
    neurons = sum(layer["neurons"] for layer in ttfs["layers"])
    assert sum(layer["spikes_per_sample"] for layer in ttfs["layers"]) <= neurons  # one spike per neuron at most
    assert json.loads((tmp_path / "verify.json").read_text())["max_abs_error"] < 1e-4
    # the comparison once, at the top: its CSV in percent like the printed table, one figure
    rows = list(csv.reader(io.StringIO((tmp_path / "compare.csv").read_text())))
    assert rows[0] == ["preset", "accuracy (%) T=1", "accuracy (%) T=4", "accuracy (%) T=8", "accuracy (%) T=32"]
    printed = next(line.split() for line in result.output.splitlines() if line.startswith("opi "))  # the table's
    assert rows[2][0] == "opi" and rows[2][1:] == printed[1:5]
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG)
    assert not list(tmp_path.glob("*/compare.png"))
    # TTFS: no sample decides before its output layer fires, so none at T = 1
    assert rows[4][0] == "ttfs" and float(rows[4][1]) == 0.0
    assert ttfs["latency"]["undecided_per_step"][0] == 60 and ttfs["accuracy"]["snn_per_step"][0] == 0.0


@pytest.fixture(scope="module")
def files_for_cli(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    data = load_example_data()
    np.savez(tmp / "calib.npz", x=data["x_calib"])
    np.savez(tmp / "test.npz", x=data["x_test"][:30], y=data["y_test"][:30])
    opi = ("--preset", "opi")
    assert (
        run("convert", example_model_path(), *opi, "--calib", tmp / "calib.npz", "-o", tmp / "net.npz").exit_code == 0
    )
    return tmp


def test_simulate_report_and_energy_commands(files_for_cli, tmp_path):
    tmp = files_for_cli
    result = run("simulate", tmp / "net.npz", "--data", tmp / "test.npz", "-T", "8", "--report", tmp_path / "r")
    assert result.exit_code == 0, result.output
    doc = check_report_dir(tmp_path / "r")
    assert list(doc["energy"])[0] == "memory-aware-45nm"
    result = run("energy", tmp / "net.npz", "--data", tmp / "test.npz", "-T", "8", "--preset", "fp32-45nm")
    assert result.exit_code == 0, result.output
    assert "preset fp32-45nm" in result.output and "Horowitz" in result.output and "truenorth" in result.output
    (tmp_path / "costs.json").write_text(json.dumps({"name": "mine", "costs_pj": {"sop": 1.0, "mac": 1.0}}))
    result = run(
        "energy", tmp / "net.npz", "--data", tmp / "test.npz", "-T", "4", "--costs", tmp_path / "costs.json",
        "--json", tmp_path / "e.json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    energy = json.loads((tmp_path / "e.json").read_text())["energy"]
    assert list(energy)[0] == "mine"
    counts = energy["mine"]["counts"]["snn"]["totals"]
    assert energy["mine"]["snn"]["total_pj"] == pytest.approx(counts["sop"] + counts["mac"])


def test_energy_command_errors(files_for_cli, tmp_path):
    tmp = files_for_cli
    (tmp_path / "bad.json").write_text('{"costs_pj": {"flops": 1}}')
    for extra, fragment in (
        (["--costs", tmp_path / "bad.json"], "flops"),
        (["--costs", tmp_path / "none.json"], "does not exist"),
        (["--costs", tmp_path / "bad.json", "--preset", "loihi"], "not both"),
    ):
        result = run("energy", tmp / "net.npz", "--data", tmp / "test.npz", "--json", tmp_path / "e.json", *extra)
        assert result.exit_code == 2 and fragment in result.output, result.output
        assert "Traceback" not in result.output
        assert not (tmp_path / "e.json").exists()
    result = run("simulate", tmp / "net.npz", "--data", tmp / "test.npz", "--report", tmp_path / "r", "--costs", "x")
    assert result.exit_code == 2 and not (tmp_path / "r").exists()
