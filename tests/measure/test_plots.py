"""Figures, read back through their matplotlib objects: titles, axis labels, tick labels in graph
order and distinct, the same colour for a preset in every figure, the "never decided" bar; and the
comparison's CSV in percent, against the printed table."""

from __future__ import annotations

import csv
import io
import re

import matplotlib.colors
import numpy as np
import pytest
from click.testing import CliRunner
from eventsim.cli.main import main

import eventsim
from eventsim.examples import example_model_path, load_example_data
from eventsim.measure import plots
from eventsim.measure.report import build_report
from eventsim.measure.summary import compare_csv

RESNET_NODES = [  # the bundled mnist_resnet's nodes with energy, in graph order
    "/0/Conv_output_0", "/2/Relu_output_0", "/3/body/body.0/Conv_output_0", "/3/body/body.2/Relu_output_0",
    "/3/body/body.3/Conv_output_0", "/3/Add_output_0", "/3/relu/Relu_output_0", "/4/body/body.0/Conv_output_0",
    "/4/body/body.2/Relu_output_0", "/4/body/body.3/Conv_output_0", "/4/shortcut/shortcut.0/Conv_output_0",
    "/4/Add_output_0", "/4/relu/Relu_output_0", "/5/GlobalAveragePool_output_0", "logits",
]  # fmt: skip
RESNET_LABELS = [
    "0/Conv", "2/Relu", "3/body.0/Conv", "3/body.2/Relu", "3/body.3/Conv", "3/Add", "3/relu/Relu", "4/body.0/Conv",
    "4/body.2/Relu", "4/body.3/Conv", "shortcut.0/Conv", "4/Add", "4/relu/Relu", "5/GlobalAveragePool", "logits",
]  # fmt: skip


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plot functions draw, kept open instead of turned into PNG bytes."""
    figures = []

    def keep(fig):
        fig.canvas.draw()
        figures.append(fig)
        return b"\x89PNG"

    monkeypatch.setattr(plots, "_png", keep)
    return figures


def texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_short_names_are_distinct_and_readable():
    assert plots.short_names(RESNET_NODES) == RESNET_LABELS
    assert plots.short_names(["/a/x/Conv_output_0", "/b/x/Conv_output_0", "/a/x/Conv_output_0"]) == [
        "a/x/Conv",
        "b/x/Conv",
        "a/x/Conv (2)",  # the same node name twice: numbered
    ]
    long = ["/" + "s" * 40 + "/conv", "/" + "t" * 40 + "/conv"]
    labels = plots.short_names(long, width=20)
    assert len(set(labels)) == 2 and all(len(label) <= 20 + 4 for label in labels)


def test_energy_bars_of_a_resnet_in_graph_order_with_distinct_labels(drawn):
    """SNN nodes lack the residual adds (they are synaptic sums there); the ANN has them: every node
    gets one bar pair in graph order, whatever order the dicts come in."""
    snn = {name: {"sop": 1.0} for name in RESNET_NODES if "Add" not in name}
    ann = {name: {"mac": 2.0} for name in RESNET_NODES}
    report = {"snn": {"by_node_pj": snn}, "ann": {"by_node_pj": ann}, "ann_over_snn": 2.0, "preset": {"name": "x"}}
    plots.energy_breakdown_png(report)  # without the graph's order: the two orders merged
    plots.energy_breakdown_png(report, order=RESNET_NODES[::-1])  # with it: that order
    merged, ordered = (fig.axes[0] for fig in drawn)
    assert texts(merged.get_yticklabels()) == RESNET_LABELS
    assert texts(ordered.get_yticklabels()) == RESNET_LABELS[::-1]
    assert merged.get_title()


def test_latency_histogram_has_a_title_a_linear_axis_and_a_never_bar(drawn):
    T = 10
    decision = np.array([1, 3, 3, 10, 11, 11, 11])  # T + 1: never decided
    plots.latency_histogram_png(decision, T, first_ann_match=np.array([1, 3, 4, 10, 11, 11, 11]), title="run")
    ax = drawn[0].axes[0]
    assert ax.get_title() == "run" and ax.get_xscale() == "linear" and ax.get_ylabel() == "samples"
    assert ax.get_xlim()[0] == 0.5  # from the first step, not 2^-1
    labels = texts(ax.get_xticklabels())
    assert labels[-1] == "never" and ax.get_xticks()[-1] > T
    never_at = ax.get_xticks()[-1]
    bars = [p for p in ax.patches if p.get_fill()]  # the outline of the ANN match is not filled
    heights = {round(p.get_x() + p.get_width() / 2, 1): p.get_height() for p in bars}
    assert heights[1.0] == 1 and heights[3.0] == 2 and heights[10.0] == 1 and heights[round(never_at, 1)] == 3
    assert sum(heights.values()) == len(decision)
    legend = texts(ax.get_legend().get_texts())
    assert "never decided: 3 of 7" in legend and "first step = ANN (3 never)" in legend
    plots.latency_histogram_png(decision, T)
    assert drawn[1].axes[0].get_title()  # a default title


def test_raster_has_a_y_label_and_distinct_layer_labels(drawn):
    points = {
        "/3/body/body.2/Relu_output_0": {"t": [1, 2], "neuron": [0, 1], "shown": 2, "neurons": 2},
        "/4/body/body.2/Relu_output_0": {"t": [2], "neuron": [0], "shown": 2, "neurons": 2},
    }
    plots.raster_png(points, 4)
    ax = drawn[0].axes[0]
    assert ax.get_ylabel() and ax.get_title()
    assert texts(ax.get_yticklabels()) == ["3/body.2/Relu", "4/body.2/Relu"]


def line_colors(ax) -> dict[str, str]:
    return {line.get_label(): matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()}


def test_a_preset_has_one_colour_in_every_figure(drawn):
    a = {"steps": [1, 2], "ann_accuracy": 0.9, "presets": {p: {"accuracy": [0.1, 0.5]} for p in ("opi", "ttfs")}}
    b = {
        "steps": [1, 2],
        "ann_accuracy": 0.9,
        "presets": {p: {"accuracy": [0.1, 0.5]} for p in ("ttfs", "ftbc", "opi")},
    }
    plots.accuracy_vs_steps_png(a)
    plots.accuracy_vs_steps_png(b)
    first, second = (line_colors(fig.axes[0]) for fig in drawn)
    for preset in ("opi", "ttfs"):
        assert first[preset] == second[preset] == matplotlib.colors.to_hex(plots.preset_color(preset))
    assert len({plots.preset_color(p) for p in plots.PRESET_COLORS}) == len(plots.PRESET_COLORS)
    assert plots.preset_color("mine") == plots.preset_color("mine")  # any other name: a stable colour


def test_report_figures_name_the_model_and_use_the_preset_colour(drawn, tmp_path):
    data = load_example_data()
    net = eventsim.convert(eventsim.load_onnx(example_model_path()), data["x_calib"], "ttfs")
    net.meta["source_model"] = str(example_model_path())  # an absolute path, as 'eventsim convert' records
    x, y = data["x_test"][:12], data["y_test"][:12]
    rec = eventsim.simulate(net, x, net.result_steps, encoding="ttfs", raster_samples=range(2))
    report = build_report(net, rec, x, y, compare_table={"steps": [1], "ann_accuracy": 1.0, "presets": {}})
    assert "compare.png" not in report.figures  # the comparison's figure is drawn once, where its table is written
    titles = [fig.axes[0].get_title() for fig in drawn]
    assert len(titles) == len(report.figures) and all(f"digits_cnn, ttfs, T = {rec.T}" in t for t in titles)
    assert not any(str(tmp_path.anchor) + "work" in t or ".onnx" in t for t in titles)
    colour = matplotlib.colors.to_hex(plots.preset_color("ttfs"))
    accuracy = line_colors(drawn[list(report.figures).index("accuracy.png")].axes[0])
    assert accuracy["SNN accuracy"] == colour and "undecided (no answer yet)" in accuracy
    bars = drawn[list(report.figures).index("firing_rates.png")].axes[0].patches
    assert {matplotlib.colors.to_hex(bar.get_facecolor()) for bar in bars} == {colour}


def table_from_text(text: str) -> dict[str, list[str]]:
    """The printed comparison, parsed: preset → cells as printed (percent, "—" where none)."""
    rows = {}
    for line in text.splitlines()[1:]:
        cells = line.split()
        if cells and re.fullmatch(r"[-\d.—]+", cells[1]):
            rows[cells[0]] = cells[1:]
    return rows


def test_compare_csv_holds_the_printed_percent():
    table = {
        "steps": [1, 4, 16],
        "ann_accuracy": 0.97666,
        "presets": {
            "opi": {"accuracy": [0.22667, 0.94333, 0.97667], "spikes_per_neuron": 5.0},
            "ftbc+finetune": {"accuracy": [0.54, None, None], "spikes_per_neuron": 1.0},
        },
    }
    from eventsim.measure.compare import table_text

    printed = table_from_text(table_text(table))
    rows = list(csv.reader(io.StringIO(compare_csv(table))))
    assert rows[0] == ["preset", "accuracy (%) T=1", "accuracy (%) T=4", "accuracy (%) T=16"]
    for preset, *cells in rows[1:-1]:
        assert [c or "—" for c in cells] == printed[preset][: len(cells)]
    assert rows[-1] == ["ANN"] + printed["ANN"] * 3  # the ANN's accuracy, printed once, in every column
    assert rows[1][1:] == ["22.67", "94.33", "97.67"] and rows[2][1:] == ["54.00", "", ""]


def test_compare_command_writes_percent_and_names_the_model(drawn, tmp_path):
    data = load_example_data()
    np.savez(tmp_path / "calib.npz", x=data["x_calib"][:100])
    np.savez(tmp_path / "test.npz", x=data["x_test"][:40], y=data["y_test"][:40])
    files = ["--calib", str(tmp_path / "calib.npz"), "--data", str(tmp_path / "test.npz")]
    args = ["compare", str(example_model_path()), *files, "--presets", "opi,ttfs", "-T", "2,8,40"]
    args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    printed = table_from_text(result.output)
    rows = list(csv.reader(io.StringIO((tmp_path / "out" / "compare.csv").read_text())))
    assert rows[0][1:] == ["accuracy (%) T=2", "accuracy (%) T=8", "accuracy (%) T=40"]
    for preset, *cells in rows[1:-1]:
        assert cells == printed[preset][:3]
    assert float(rows[2][1]) == 0.0  # ttfs at T = 2: nothing has reached the output, no sample decided
    ax = drawn[-1].axes[0]
    assert ax.get_title() == "digits_cnn: test accuracy per preset"
    colours = line_colors(ax)
    assert colours["opi"] == matplotlib.colors.to_hex(plots.preset_color("opi"))


def test_a_fine_tuned_network_has_the_colour_of_its_comparison_row():
    from types import SimpleNamespace

    from eventsim.measure.compare import FINETUNED
    from eventsim.measure.report import network_label, preset_name

    tuned = SimpleNamespace(meta={"preset": "ftbc", "finetune": {"T": 4}, "source_model": "/x/y/digits_cnn.onnx"})
    assert preset_name(tuned) == FINETUNED and plots.preset_color(FINETUNED) != plots.preset_color("ftbc")
    assert network_label(tuned, 4) == "digits_cnn, ftbc+finetune, T = 4"
    assert preset_name(SimpleNamespace(meta={})) is None and network_label(SimpleNamespace(meta={})) == ""
