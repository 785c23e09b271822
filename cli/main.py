"""``eventsim`` commands. Each parses options, calls one public library function, prints, writes."""

from __future__ import annotations

import json
import sys
import time
import traceback
import warnings
from inspect import signature
from pathlib import Path

import click
import numpy as np

import eventsim
from eventsim.conversion import PRESETS, THRESHOLD_MODES, V0_MODES
from eventsim.data import check_batch, check_labels
from eventsim.errors import EventsimError, OptionError
from eventsim.io import atomic_write_bytes, atomic_write_text
from eventsim.measure.energy import energy_report, energy_text
from eventsim.measure.energy_presets import DEFAULT_PRESET, get_cost_table, load_cost_table, with_every_preset
from eventsim.measure.energy_presets import PRESETS as ENERGY_PRESETS
from eventsim.measure.report import RASTER_SAMPLES, build_report
from eventsim.simulation import ENGINES
from eventsim.snn.coding import ENCODINGS


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"warning: {message}", err=True)


class _Group(click.Group):
    """Turns user errors into one message and a non-zero exit (a traceback only with --debug, which
    may come before or after the command)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--debug" in args[1:]:  # the group's option, given after the command: move it in front
            args = ["--debug"] + [arg for arg in args if arg != "--debug"]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # "warning: ..." on stderr, as the errors are printed
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EventsimError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.secho(f"error: {exc.problem}", fg="red", err=True)
            if exc.fix:
                click.echo(f"  fix: {exc.fix}", err=True)
            ctx.exit(2)


def _shape(ctx, param, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        shape = tuple(int(v) for v in value.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a shape like 3,32,32") from None
    if not shape or min(shape) < 1:
        raise click.BadParameter(f"{value!r} is not a shape like 3,32,32")
    return shape


#: Time steps of simulate and energy when neither -T nor the network's file says.
DEFAULT_T = 64
ENGINE_HELP = "Simulation engine: event (step-major), layer (layer-major), reference (dense NumPy) or auto (per batch)."


def _network_steps(net, T: int | None) -> int:
    """``T``, or the network's own (:attr:`SpikingNetwork.intended_steps`, else :data:`DEFAULT_T`);
    warns on stderr when the network's output cannot show its result within the steps."""
    T = T or net.intended_steps or DEFAULT_T
    needed, first = net.result_steps, net.first_output_step(T)
    if needed and T < needed:
        click.echo(
            f"warning: T={T} is shorter than the {needed} steps this network needs for its full result "
            f"(its output is read after every layer's window); use -T {needed}",
            err=True,
        )
    elif first is None:
        click.echo(f"warning: the network's output receives nothing within T={T} steps; use a larger -T", err=True)
    return T


def _choice(flag: str, choices: list[str], default: str, text: str):
    """An option with a fixed set of values and a default."""
    return click.option(flag, type=click.Choice(choices), default=default, show_default=True, help=text)


input_shape_option = click.option(
    "--input-shape",
    callback=_shape,
    metavar="C,H,W",
    help="Per-sample input shape (no batch axis), for models whose input has dynamic dimensions.",
)


def _renamed_energy_preset(ctx: click.Context, param, value: str | None) -> None:
    """The old name of --energy-preset (which clashed with the recipes' --preset): still read."""
    if value is not None:
        click.echo("warning: --preset names a recipe in convert; the energy table is --energy-preset", err=True)
        ctx.meta["energy_preset"] = value


class _ProgressPrinter:
    """Prints the library's progress lines (:class:`eventsim.progress.ProgressLine`) on stderr: each
    line that reports a result and the last of each task, the others at most one a second per task."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval, self.printed = interval, {}

    def __call__(self, line: str) -> None:
        task, now = getattr(line, "task", None), time.monotonic()
        last = getattr(line, "done", 0) >= getattr(line, "total", 0)
        if getattr(line, "result", True) or last or now - self.printed.get(task, -self.interval) >= self.interval:
            self.printed[task] = now
            click.echo(str(line), err=True)


def _progress() -> _ProgressPrinter | None:
    """The progress callback of this command: None with --quiet."""
    return None if click.get_current_context().meta.get("quiet") else _ProgressPrinter()


def _set_quiet(ctx: click.Context, param, value: bool) -> None:
    ctx.meta["quiet"] = ctx.meta.get("quiet") or value


quiet_option = click.option(
    "-q",
    "--quiet",
    is_flag=True,
    expose_value=False,
    callback=_set_quiet,
    help="Print no progress on stderr (errors and warnings still).",
)


def energy_options(fn):
    """--energy-preset / --costs: the energy cost table."""
    fn = click.option(
        "--costs", type=click.Path(dir_okay=False), help="Your own cost table (JSON or TOML; see 'eventsim energy -h')."
    )(fn)
    fn = click.option(
        "--preset",
        type=click.Choice(list(ENERGY_PRESETS)),
        hidden=True,
        expose_value=False,
        callback=_renamed_energy_preset,
    )(fn)
    return click.option(
        "--energy-preset",
        "preset",
        type=click.Choice(list(ENERGY_PRESETS)),
        help=f"Energy cost table [default: {DEFAULT_PRESET}].",
    )(fn)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(eventsim.__version__, prog_name="eventsim")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """eventsim: convert trained ANNs (ONNX) into spiking neural networks and simulate them event by event.

    \b
    Start with:   eventsim demo
    Your model:   eventsim inspect MODEL.onnx
                  eventsim verify MODEL.onnx --data DATA.npz
                  eventsim convert MODEL.onnx --calib CALIB.npz -T 16 -o net.npz   (preset auto)
                  eventsim compare MODEL.onnx --calib CALIB.npz --data TEST.npz
                  eventsim simulate net.npz --data TEST.npz -T 64
    """
    ctx.ensure_object(dict)["debug"] = debug


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@input_shape_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(model: str, input_shape, as_json: bool) -> None:
    """Import MODEL (ONNX) and print its graph: layers, output shapes, parameters, MACs per sample."""
    graph = eventsim.load_onnx(model, input_shape=input_shape)
    click.echo(graph.to_json() if as_json else graph.summary())


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", type=click.Path(dir_okay=False), help="Inputs: .npz with arrays x (and y), or .npy.")
@click.option(
    "--samples",
    default=16,
    show_default=True,
    type=click.IntRange(min=1),
    help="Samples to compare (random ones without --data).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz file.")
@click.option("--y-key", default="y", show_default=True, help="Name of the label array in the .npz file.")
@click.option("--rtol", default=1e-4, show_default=True, help="Tolerance relative to max(1, max |output|).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the report as JSON here.")
@input_shape_option
def verify(model, data, samples, seed, x_key, y_key, rtol, json_path, input_shape) -> None:
    """Run MODEL in onnxruntime and in eventsim's executor and compare the outputs (exit 1 if they differ)."""
    x = y = None
    graph = eventsim.load_onnx(model, input_shape)
    if data:
        x, y = eventsim.load_data_file(data, x_key=x_key, y_key=y_key)
        x = check_batch(x, graph.input_shape, x_key)  # the file's shape, before cutting to --samples
        y = check_labels(y, _classes(graph), y_key)
        x, y = x[:samples], (y[:samples] if y is not None else None)
    report = eventsim.verify_onnx(
        model, x=x, samples=samples, seed=seed, input_shape=input_shape, rtol=rtol, graph=graph
    )
    click.echo(report.text())
    doc = report.to_dict()
    if y is not None:
        pred = np.argmax(eventsim.run_ann(graph, x), axis=1)
        doc["ann_accuracy"] = float(np.mean(pred == y))
        click.echo(f"ANN accuracy on these samples: {doc['ann_accuracy']:.2%}")
    if json_path:
        atomic_write_text(json_path, json.dumps(doc, indent=2))
    if not report.passed:
        sys.exit(1)


def _classes(graph) -> int:
    """The number of outputs of ``graph`` (labels must name one of them)."""
    return int(np.prod(graph.output_shape))


def _load_x(path: str, x_key: str, y_key: str, samples: int | None):
    x, y = eventsim.load_data_file(path, x_key=x_key, y_key=y_key)
    if samples is not None:
        x, y = x[:samples], (None if y is None else y[:samples])
    return x, y


def _steps(ctx, param, value: str) -> list[int]:
    try:
        steps = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of steps like 1,2,4,8") from None
    if not steps or steps[0] < 1:
        raise click.BadParameter("steps must be positive")
    return steps


def _conversion_options(fn=None, *, calib_required: bool = False):
    """Options shared by convert and compare: what overrides a preset (``calib_required``: --calib is
    marked required, as compare needs it)."""
    if fn is None:
        return lambda fn: _conversion_options(fn, calib_required=calib_required)
    calib_help = "Calibration inputs (.npz with x, or .npy)" + (
        "." if calib_required else "; needed by data-based thresholds, opi-opt, ftbc and auto."
    )
    options = [
        click.option("--threshold", type=click.Choice(THRESHOLD_MODES), help="Override the preset's thresholds."),
        click.option("--per-channel/--per-layer", default=None, help="Thresholds (and OPI v0) per channel."),
        click.option("--percentile", type=float, help="Percentile for --threshold percentile [default: 99.99]."),
        click.option("--v0", type=click.Choice(V0_MODES), help="Override the preset's initial potentials."),
        click.option("--alpha", type=float, help="FTBC step size [default: 0.4, the authors']."),
        click.option("--ftbc-batches", type=int, help="FTBC calibration batches [default: 3]."),
        click.option("--ftbc-batch-size", type=int, help="FTBC batch size [default: 200]."),
        click.option("--seed", type=int, help="Seed of calibration sampling [default: 0]."),
        click.option("--period", type=int, help="BSNN cycle length in steps [default: 8]."),
        click.option("--window", type=int, help="TTFS window length in steps per layer [default: 8]."),
        click.option(
            "--burst",
            type=click.IntRange(1, 2**20),
            help="Burst neurons in a rate-coded preset: up to B spikes per step, sent as one event "
            "[default: IF neurons, one spike per step].",
        ),
        click.option(
            "--signed",
            "kind",
            flag_value="signed",
            default=None,
            help="Signed neurons in a rate-coded preset: a negative spike takes back an earlier one "
            "[default: IF neurons].",
        ),
        click.option("--calib", type=click.Path(dir_okay=False), required=calib_required, help=calib_help),
        click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz files."),
        input_shape_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _overrides(**values) -> dict:
    return {k: v for k, v in values.items() if v is not None}


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="auto",
    show_default=True,
    help="Conversion recipe (see the README); auto chooses one for the model and -T on held-out calibration data.",
)
@click.option(
    "-T", "T", type=click.IntRange(min=1), help="Time steps to calibrate for (auto, opi-opt and ftbc need it)."
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Network file to write (.npz).")
@click.option(
    "--y-key", default="y", show_default=True, help="Calibration labels in --calib; auto ranks by accuracy if present."
)
@click.option(
    "--cluster",
    metavar="local|tcp://HOST:PORT",
    help='Score auto\'s candidates on a Dask cluster: "local" starts worker processes, an address joins a '
    'running scheduler (pip install "eventsim[dask]") [default: this process].',
)
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes of --cluster local.")
@quiet_option
@_conversion_options
def convert(model, preset, T, output, y_key, cluster, workers, calib, x_key, input_shape, **overrides) -> None:
    """Convert MODEL (ONNX) into a spiking network file with a preset recipe (default auto: the
    best of a few recipes at -T on a held-out part of the calibration data; needs -T)."""
    graph = eventsim.load_onnx(model, input_shape=input_shape)
    x, y = _load_x(calib, x_key, y_key if preset == "auto" else None, None) if calib else (None, None)
    options = _overrides(**overrides)
    if cluster is not None and preset != "auto":
        raise OptionError("--cluster applies to preset auto (it scores its candidates there)", "leave out --cluster")
    net = eventsim.convert(
        graph, x, preset, T=T, progress=_progress(), calib_y=y, cluster=cluster, workers=workers, **options
    )
    net.save(output)
    if "auto" in net.meta:
        from eventsim.conversion.auto import auto_table

        click.echo(auto_table(net.meta["auto"]))
    acts = eventsim.run_ann(graph, x, record=True)[1] if x is not None else {}
    click.echo(
        f"{'layer':40s} {'op':5s} {'neurons':>7s} {'θ':>13s} {'v0/θ':>11s} {'|bias|':>8s} "
        f"{'act mean':>8s} {'act max':>8s}"
    )
    for node in graph.activation_nodes():
        layer = net.layers[node.name]
        theta, v0_frac = net.threshold_array(node.name), net.v0_array(node.name) / net.threshold_array(node.name)
        bias = 0.0 if layer.temporal_bias is None else float(np.abs(layer.temporal_bias).max())
        a = acts.get(node.name, np.full(1, np.nan))  # no calibration data: no activation statistics
        click.echo(
            f"{node.name[-40:]:40s} {node.op:5s} {theta.size:7d} {_range(theta):>13s} {_range(v0_frac):>11s} "
            f"{bias:8.3g} {a.mean():8.3g} {a.max():8.3g}"
        )
    settings = net.meta.get("settings", {})
    calibrated = preset == "auto" or settings.get("v0") == "optimized" or settings.get("ftbc")
    click.echo(f"preset {preset}" + (f", calibrated for T={T}" if T and calibrated else "") + f"; wrote {output}")
    steps = net.intended_steps or DEFAULT_T
    coding = f" --encoding {net.required_encoding}" if net.required_encoding else ""
    why = f" (its full result needs {steps} steps)" if net.result_steps else ""
    click.echo(f"simulate it with: eventsim simulate {output} --data TEST.npz -T {steps}{coding}{why}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Training inputs and labels (.npz).")
@click.option("--val", type=click.Path(dir_okay=False), help="Validation inputs and labels (.npz), after every epoch.")
@click.option("-T", "T", required=True, type=click.IntRange(min=1), help="Time steps per sample.")
@click.option(
    "--encoding",
    type=click.Choice(list(ENCODINGS)),
    help="Input coding [default: the one the neurons need (single_spike: ttfs), else direct].",
)
@click.option(
    "--estimator",
    default="localzo",
    show_default=True,
    help="dS/du: localzo[:delta=0.05,m=1,dist=normal,seed=0] or a surrogate "
    "(fast_sigmoid, arctan, gaussian, triangle, rectangle)[:width=0.5,cutoff=...].",
)
@_choice(
    "--loss",
    ["sum", "max"],
    "sum",
    "Cross-entropy on the mean output over T (sum), or on each class's largest single-step output (max).",
)
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(min=1), help="Passes over DATA.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Samples per update.")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True, help="Optimizer.")
@click.option(
    "--lr", default=1e-3, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Learning rate."
)
@click.option("--weight-decay", default=0.0, show_default=True, type=click.FloatRange(min=0), help="L2 weight decay.")
@click.option(
    "--momentum", default=0.0, show_default=True, type=click.FloatRange(0, 1, max_open=True), help="SGD momentum."
)
@_choice(
    "--backward",
    ["sparse", "dense"],
    "sparse",
    "The sparse Numba backward pass (visits only active entries) or the dense NumPy reference.",
)
@_choice("--kind", ["lif", "if", "single_spike"], "lif", "Neurons (ONNX); single_spike: TTFS, see 'train-ttfs'.")
@click.option("--decoding", type=click.Choice(["sum", "temporal"]), default="sum", show_default=True, help="Output.")
@click.option("--learn-decoding", is_flag=True, help="Learn the temporal decoding's weights.")
@click.option("--leak", default=0.9, show_default=True, type=click.FloatRange(0, 1, min_open=True), help="LIF β.")
@_choice("--reset", ["subtract", "zero"], "subtract", "What a spike does to the membrane: θ subtracted, or set to 0.")
@click.option(
    "--threshold", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Threshold θ."
)
@_choice("--init", ["model", "random"], "model", "Start from the model's weights or from random ones.")
@click.option(
    "--spike-penalty",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Weight of a penalty on the mean spikes per neuron and step of every layer.",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of initialisation and shuffling."
)
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Write a checkpoint here after every epoch.")
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue the run of this checkpoint.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Network file to write (.npz).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the history per epoch as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write loss, accuracy and active entries (PNG).")
@click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz files.")
@click.option("--y-key", default="y", show_default=True, help="Name of the label array in the .npz files.")
@input_shape_option
@quiet_option
def train(model, data, val, estimator, output, json_path, plot, x_key, y_key, input_shape, **options) -> None:
    """Train MODEL (ONNX: its weights start the run, or a network file) by BPTT on DATA, and write the
    spiking network to OUTPUT."""
    from eventsim.training import parse_estimator

    try:
        options["estimator"] = parse_estimator(estimator)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--estimator") from None
    source = eventsim.load_onnx(model, input_shape) if model.endswith(".onnx") else eventsim.SpikingNetwork.load(model)
    x, y, validation = _training_data(data, val, x_key, y_key)
    result = eventsim.train(source, x, y, val=validation, progress=_progress(), **options)
    _write_training(result, output, json_path, plot, f"{Path(model).name}, T = {options['T']}")


def _training_data(data: str, val: str | None, x_key: str, y_key: str, labels_needed: bool = True) -> tuple:
    """Training inputs and labels (None allowed unless ``labels_needed``), and the validation pair with
    its labels, from their files."""
    x, y = _load_x(data, x_key, y_key, None)
    if y is None and labels_needed:
        raise click.BadParameter(f"{data} holds no labels {y_key!r}", param_hint="--data")
    validation = _load_x(val, x_key, y_key, None) if val else None
    if validation is not None and validation[1] is None:
        raise click.BadParameter(f"{val} holds no labels {y_key!r}", param_hint="--val")
    return x, y, validation


def _write_training(result, output: str, json_path: str | None, plot: str | None, title: str) -> None:
    """The trained network, its history as JSON and plot, and one closing line."""
    result.net.save(output)
    rows = result.rows()
    if json_path:
        atomic_write_text(json_path, json.dumps(rows, indent=2))
    if plot:
        from eventsim.measure.plots import training_png

        atomic_write_bytes(plot, training_png(rows, title))
    last = rows[-1]
    val_text = "" if last["val_accuracy"] is None else f", validation {last['val_accuracy']:.2%}"
    click.echo(f"trained {last['epoch']} epochs: train accuracy {last['train_accuracy']:.2%}{val_text}; wrote {output}")


@main.command("train-ttfs")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Training inputs and labels (.npz).")
@click.option("--val", type=click.Path(dir_okay=False), help="Validation inputs and labels (.npz), after every epoch.")
@click.option("-T", "T", required=True, type=click.IntRange(min=1), help="Time steps: the TTFS window.")
@click.option("--estimator", default="fast_sigmoid", show_default=True, help="dS/du (see 'train').")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=1), help="Passes over DATA.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="Samples per update.")
@click.option(
    "--lr", default=3e-3, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Learning rate."
)
@click.option("--fixed-decoding", is_flag=True, help="Decode with w_t = T − t + 1 instead of learned weights.")
@click.option("--keep-max-pools", is_flag=True, help="Keep the model's max pools (default: average pools).")
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of initialisation and shuffling."
)
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="Write a checkpoint here after every epoch.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Network file to write (.npz).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the history per epoch as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write loss, accuracy and active entries (PNG).")
@click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz files.")
@click.option("--y-key", default="y", show_default=True, help="Name of the label array in the .npz files.")
@input_shape_option
@quiet_option
def train_ttfs(
    model, data, val, estimator, fixed_decoding, keep_max_pools, output, json_path, plot, x_key, y_key, input_shape,
    **options,
) -> None:  # fmt: skip
    """Train a TTFS network of single-spike neurons from scratch with MODEL's architecture (ONNX) on
    DATA (inputs in [0, 1]), and write it to OUTPUT; simulate it with the same -T."""
    from eventsim.training import parse_estimator

    try:
        options["estimator"] = parse_estimator(estimator)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--estimator") from None
    graph = eventsim.load_onnx(model, input_shape)
    x, y, validation = _training_data(data, val, x_key, y_key)
    result = eventsim.train_ttfs(
        graph, x, y, val=validation, learn_decoding=not fixed_decoding, average_pooling=not keep_max_pools,
        progress=_progress(), **options,
    )  # fmt: skip
    _write_training(result, output, json_path, plot, f"{Path(model).name}, TTFS, T = {options['T']}")


_FINETUNE = signature(eventsim.finetune).parameters


def _finetune_default(name: str):
    """The default of :func:`eventsim.finetune`'s option ``name``: the CLI shows and uses the library's."""
    return _FINETUNE[name].default


def _finetune_option(flag: str, kind, text: str):
    """An option of ``eventsim finetune`` with :func:`eventsim.finetune`'s default."""
    name = flag.lstrip("-").replace("-", "_")
    return click.option(flag, default=_finetune_default(name), show_default=True, type=kind, help=text)


@main.command()
@click.argument("network", type=click.Path(dir_okay=False))
@click.option(
    "--data", required=True, type=click.Path(dir_okay=False),
    help="Training inputs (.npz) and their labels (optional with --teacher).",
)  # fmt: skip
@click.option("--val", type=click.Path(dir_okay=False), help="Validation inputs and labels (.npz): chooses the epoch.")
@click.option("-T", "T", required=True, type=click.IntRange(min=1), help="The time steps the network will run at.")
@click.option(
    "--teacher", type=click.Path(dir_okay=False), metavar="MODEL.onnx",
    help="The ANN the network was converted from: distil from its logits (labels then optional).",
)  # fmt: skip
@click.option(
    "--distill", type=click.FloatRange(0, 1),
    help="Weight of the soft-target loss (needs --teacher) [default: 0.5 with labels, 1 without].",
)  # fmt: skip
@_finetune_option("--temperature", click.FloatRange(min=0, min_open=True), "Temperature of the soft-target loss.")
@click.option(
    "--augment", type=click.IntRange(min=0), metavar="PIXELS",
    help="Shift the images by up to this many pixels each way [default: 1 where the teacher is invariant to it].",
)  # fmt: skip
@click.option(
    "--mixup", type=click.FloatRange(0, 1),
    help="Share of each epoch's inputs replaced by mixes of two, labelled by the teacher (needs --teacher) "
    "[default: 0].",
)  # fmt: skip
@click.option(
    "--select", type=click.Choice(["accuracy", "agreement", "distill"]),
    help="What keeps the best epoch on the held-out data: accuracy, agreement with the teacher or its soft-target "
    "loss (the last two need --teacher) [default: accuracy].",
)  # fmt: skip
@_finetune_option(
    "--holdout", click.FloatRange(0, 1, max_open=True),
    "Share of DATA held out to keep the best epoch (0: the last epoch; ignored with --val).",
)  # fmt: skip
@click.option("--thresholds", is_flag=True, help="Train the thresholds too.")
@click.option("--v0", is_flag=True, help="Train the initial potentials too.")
@click.option("--temporal-bias", is_flag=True, help="Train the temporal biases (FTBC's) too.")
@_finetune_option("--estimator", str, "dS/du (see 'train').")
@_finetune_option("--epochs", click.IntRange(min=1), "Passes over the training inputs.")
@_finetune_option("--batch-size", click.IntRange(min=1), "Samples per step.")
@_finetune_option("--lr", click.FloatRange(min=0, min_open=True), "Learning rate in units of each parameter's scale.")
@_finetune_option("--schedule", click.Choice(["cosine", "constant"]), "Warm-up and cosine decay, or a constant rate.")
@click.option(
    "--backward", type=click.Choice(["sparse", "dense"]), default="sparse", show_default=True,
    help="Backward pass over the neurons near threshold only (LocalZO's sparsity), or over all.",
)  # fmt: skip
@_finetune_option("--seed", click.IntRange(min=0), "Seeds the sample order, the held-out split and the shifts.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Network file to write (.npz).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the history per epoch as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write the history per epoch as a PNG.")
@click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz files.")
@click.option("--y-key", default="y", show_default=True, help="Name of the label array in the .npz files.")
@input_shape_option
@quiet_option
def finetune(
    network, data, val, teacher, estimator, output, json_path, plot, x_key, y_key, input_shape, **options
) -> None:  # fmt: skip
    """Fine-tune NETWORK (from 'eventsim convert') at T steps on DATA, keeping its structure, and write
    it to OUTPUT."""
    from eventsim.training import parse_estimator

    try:
        options["estimator"] = parse_estimator(estimator)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--estimator") from None
    net = eventsim.SpikingNetwork.load(network)
    graph = eventsim.load_onnx(teacher, input_shape) if teacher else None
    x, y, validation = _training_data(data, val, x_key, y_key, labels_needed=graph is None)
    result = eventsim.finetune(net, x, y, teacher=graph, val=validation, progress=_progress(), **options)
    _write_training(result, output, json_path, plot, f"{Path(network).name}, fine-tuned at T = {options['T']}")
    record = result.net.meta["finetune"]
    click.echo(f"kept epoch {record['best_epoch']} of {record['epochs']}")


def _range(values: np.ndarray) -> str:
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:.3g}" if lo == hi else f"{lo:.3g}..{hi:.3g}"


def _optional_steps(ctx, param, value: str | None) -> list[int] | None:
    return None if value is None else _steps(ctx, param, value)


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Test inputs and labels (.npz).")
@click.option("--y-key", default="y", show_default=True, help="Name of the label array in the .npz files.")
@click.option("--presets", default="baseline,robust,opi,ftbc", show_default=True, help="Comma-separated presets.")
@click.option(
    "-T", "steps", default="1,2,4,8,16,32,64", callback=_steps, show_default=True, help="Time steps of the table."
)
@click.option("--engine", type=click.Choice(list(ENGINES)), default="auto", show_default=True, help=ENGINE_HELP)
@_choice(
    "--encoding",
    ["direct", "rate"],
    "direct",
    "Input coding of the rate-coded presets (TTFS networks always read TTFS coding).",
)
@click.option("--out", type=click.Path(file_okay=False), help="Write compare.json, compare.csv and compare.png here.")
@click.option(
    "--finetune",
    is_flag=True,
    help="Add a row ftbc+finetune: ftbc converted and fine-tuned at each T ≤ 8 of -T on the calibration data "
    "(its labels if the file has them, else the ANN's decisions), then tested.",
)
@click.option(
    "--finetune-steps", callback=_optional_steps, metavar="1,2,4", help="Fine-tune at these T (implies --finetune)."
)
@click.option("--finetune-epochs", type=click.IntRange(min=1), help="Epochs of fine-tuning [default: finetune's, 10].")
@click.option(
    "--cluster",
    metavar="local|tcp://HOST:PORT",
    help='Simulate on a Dask cluster ("local": worker processes for this table; pip install "eventsim[dask]").',
)
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes of --cluster local.")
@click.option("--calib-x-key", help="Name of the input array in --calib [default: --x-key].")
@click.option("--calib-y-key", help="Name of the label array in --calib [default: --y-key].")
@click.option("--samples", type=click.IntRange(min=1), help="Use only the first N test samples of --data.")
@quiet_option
@_conversion_options(calib_required=True)
def compare(
    model, data, y_key, presets, steps, engine, encoding, out, finetune, finetune_steps, finetune_epochs, cluster,
    workers, calib_x_key, calib_y_key, samples, calib, x_key, input_shape, **overrides,
) -> None:  # fmt: skip
    """Accuracy of several presets at several time steps (one simulation per preset), and with
    --finetune of ftbc fine-tuned at the small T's (one conversion and fine-tuning per T)."""
    from eventsim.conversion import resolve
    from eventsim.measure.compare import compare as run_compare
    from eventsim.measure.compare import finetune_steps as default_finetune_steps
    from eventsim.measure.compare import table_json, table_text
    from eventsim.measure.plots import accuracy_vs_steps_png
    from eventsim.measure.summary import compare_csv
    from eventsim.simulation.distributed import cluster_session

    graph = eventsim.load_onnx(model, input_shape=input_shape)
    tuned = finetune_steps or default_finetune_steps(finetune, steps)
    if finetune_epochs is not None and not tuned:
        raise click.UsageError("--finetune-epochs needs --finetune or --finetune-steps")
    names = [p.strip() for p in presets.split(",") if p.strip()]
    calib_keys = (calib_x_key or x_key, (calib_y_key or y_key) if tuned or "auto" in names else None)
    calib_x, calib_y = _load_x(calib, *calib_keys, None)
    x, y = _load_x(data, x_key, y_key, samples)
    if y is None:
        raise eventsim.DataError(f"{data!r} has no labels {y_key!r}", "store the labels as y in the .npz file")
    check_labels(y, _classes(graph), y_key)
    unknown = [p for p in names if p not in PRESETS]
    if unknown:
        raise click.BadParameter(f"unknown presets {unknown}; valid: {', '.join(PRESETS)}", param_hint="--presets")
    options = _overrides(**overrides)
    steps = sorted(set(steps) | set(tuned))
    if tuned:
        resolve("ftbc", steps[-1], **options)  # refuse a bad combination before any work
    progress = _progress()  # the fine-tuned row's lines name its labels: the calibration labels or the ANN's alone
    with cluster_session(cluster, workers) as address:  # one local cluster for the whole table
        table = run_compare(  # the fine-tuned row too: one memory check and one time left for the whole table
            graph, calib_x, x, y, names, steps, engine=engine, encoding=encoding, progress=progress, calib_y=calib_y,
            finetune=tuned or None, finetune_options={} if finetune_epochs is None else {"epochs": finetune_epochs},
            cluster=address, **options,
        )  # fmt: skip
    if cluster is not None:
        table["cluster"] = cluster
    click.echo(table_text(table))
    if out:
        atomic_write_text(f"{out}/compare.json", table_json(table))
        atomic_write_text(f"{out}/compare.csv", compare_csv(table))  # in percent, like the table printed
        title = f"{Path(model).stem}: test accuracy per preset"  # the model's name, not its path
        atomic_write_bytes(f"{out}/compare.png", accuracy_vs_steps_png(table, title=title))
        click.echo(f"wrote {out}/compare.json, compare.csv and compare.png")


def _run_options():
    """What simulate and energy share: the network, the data, and how to simulate it."""
    options = [
        click.argument("network", type=click.Path(dir_okay=False)),
        click.option(
            "--data", required=True, type=click.Path(dir_okay=False), help="Inputs (and labels y): .npz or .npy."
        ),
        click.option(
            "-T",
            "T",
            type=click.IntRange(min=1),
            help=f"Time steps [default: the network's own: the steps a TTFS network needs for its result, else the "
            f"T it was calibrated or trained for; {DEFAULT_T} if its file does not say].",
        ),
        click.option("--engine", type=click.Choice(list(ENGINES)), default="auto", show_default=True, help=ENGINE_HELP),
        click.option(
            "--encoding",
            type=click.Choice(list(ENCODINGS)),
            help="Input coding [default: the one the network's neurons need (ttfs, single_spike: ttfs), else the one "
            "it was trained with, else direct; a converted network reads direct or rate].",
        ),
        click.option(
            "--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Samples per engine call."
        ),
        click.option(
            "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the rate coding."
        ),
        click.option("--samples", type=click.IntRange(min=1), help="Use only the first N samples."),
        click.option("--x-key", default="x", show_default=True, help="Name of the input array in --data (.npz)."),
        click.option("--y-key", default="y", show_default=True, help="Name of the label array in --data (.npz)."),
        click.option(
            "--cluster",
            metavar="local|tcp://HOST:PORT",
            help='Simulate on a Dask cluster: "local" starts worker processes for this run, an address '
            'joins a running scheduler (pip install "eventsim[dask]") [default: this process].',
        ),
        click.option("--workers", type=click.IntRange(min=1), help="Worker processes of --cluster local."),
        quiet_option,
    ]

    def apply(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


@main.command()
@_run_options()
@click.option(
    "--steps",
    default="1,2,4,8,16,32,64,128,256,512,1024",
    callback=_steps,
    show_default=True,
    help="Steps at which to print the accuracy (those ≤ T).",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the results as JSON here.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False),
    help="Write report.json (all measurements, energy, run parameters) and the figures into this directory.",
)
@energy_options
def simulate(
    network,
    data,
    T,
    engine,
    encoding,
    batch_size,
    seed,
    samples,
    steps,
    x_key,
    y_key,
    cluster,
    workers,
    json_path,
    report_dir,
    preset,
    costs,
) -> None:
    """Simulate NETWORK (from 'eventsim convert') on DATA and report accuracy per step, spikes and synaptic events."""
    net = eventsim.SpikingNetwork.load(network)
    table = _cost_table(preset, costs)
    x, y = _load_x(data, x_key, y_key, samples)
    check_labels(y, _classes(net.graph), y_key)
    T = _network_steps(net, T)
    rec = _run(net, x, T, engine, encoding, seed, batch_size, raster=report_dir is not None, cluster=(cluster, workers))
    tables = with_every_preset(table) if report_dir else ()
    report = build_report(net, rec, x, y, presets=tables, figures=report_dir is not None)
    steps = sorted({t for t in steps if t <= T} | {T})  # the final step always
    click.echo(report.summary_text(steps))
    if json_path:
        atomic_write_text(json_path, json.dumps(report.summary(steps), indent=2))
    if report_dir:
        click.echo("\n" + energy_text(list(report.energies.values())))
        _write_report(report, report_dir)


def _run(net, x, T, engine, encoding, seed, batch_size, raster: bool, cluster=(None, None)):
    """Simulate with progress on stderr (samples done, time left); with ``raster``, keep the rasters a
    report needs; ``cluster``: (--cluster, --workers)."""
    from eventsim.progress import sample_progress

    progress = sample_progress(_progress(), f"simulate ({engine} engine, T={T})", len(x))
    return eventsim.simulate(
        net,
        x,
        T,
        engine=engine,
        encoding=encoding,
        seed=seed,
        batch_size=batch_size,
        raster_samples=range(min(len(x), RASTER_SAMPLES)) if raster else (),
        progress=progress,
        cluster=cluster[0],
        workers=cluster[1],
    )


def _cost_table(preset: str | None, costs: str | None):
    preset = preset or click.get_current_context().meta.get("energy_preset")
    if preset and costs:
        raise click.UsageError("use either --energy-preset or --costs, not both")
    return load_cost_table(costs) if costs else get_cost_table(preset or DEFAULT_PRESET)


def _write_report(report, directory: str) -> None:
    written = report.write(directory)
    click.echo(f"wrote {', '.join(p.name for p in written)} to {directory}")


@main.command()
@_run_options()
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the energy report as JSON here.")
@energy_options
def energy(
    network, data, T, engine, encoding, batch_size, seed, samples, x_key, y_key, cluster, workers, json_path, preset,
    costs,
):  # fmt: skip
    """Estimate the energy per sample of NETWORK on DATA at T steps, beside its ANN under the same cost table.

    \b
    Counts are exact (synaptic events, spikes, neuron updates, MACs, memory accesses); prices come
    from a preset with its published source or from your own table (--costs FILE, JSON or TOML):
      {"name": "my-chip", "source": "datasheet",
       "costs_pj": {"sop": 0.5, "mac": 2.0, "neuron_update": 0.3, "weight_read": 5.0},
       "sram_pj_per_64bit": [[8192, 10.0], [1048576, 100.0]], "word_bits": 32,
       "not_counted": ["off-chip DRAM"]}
    Terms: sop, mac, add, neuron_update, spike, weight_read, bias_read, potential_read,
    potential_write, activation_read, activation_write. Unpriced terms are listed as not counted.
    """
    net = eventsim.SpikingNetwork.load(network)
    table = _cost_table(preset, costs)
    x, y = _load_x(data, x_key, y_key, samples)
    T = _network_steps(net, T)
    rec = _run(net, x, T, engine, encoding, seed, batch_size, raster=False, cluster=(cluster, workers))
    reports = [energy_report(net, rec, t) for t in with_every_preset(table)]
    if y is not None:  # what the priced run achieves
        click.echo(f"accuracy at T={T}: {float(rec.accuracy(y)[-1]):.2%} on {rec.samples} samples")
    click.echo(energy_text(reports))
    if json_path:
        doc = {
            "T": T,
            "samples": rec.samples,
            "settings": rec.settings,
            "energy": {r.table.name: r.to_dict() for r in reports},
        }
        atomic_write_text(json_path, json.dumps(doc, indent=2))


@main.command("export-nir")
@click.argument("network", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def export_nir(network: str, out: str) -> None:
    """Write NETWORK (.npz) as a NIR graph (HDF5) to OUT: conv, dense, average pooling, flatten, add,
    concat (as split weights) and IF or LIF layers; the spike amplitude θ goes into the weights that read
    the spikes, and what NIR cannot express (reset by subtraction, v0, temporal biases) into the nodes'
    metadata. Needs: pip install "eventsim[nir]"."""
    net = eventsim.SpikingNetwork.load(network)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = eventsim.write_nir(net, out)
    click.echo(f"wrote {out}: NIR graph of {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)


@main.command("import-nir")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option(
    "--dt",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Time step the tool that wrote SOURCE simulates with (sinabs: 1; snnTorch: 1e-4); unused for files "
    "eventsim wrote.",
)
@_choice(
    "--reset",
    ["zero", "subtract"],
    "zero",
    "What a spike does to a membrane of another tool's graph: NIR's reset to 0, or the threshold subtracted "
    "(as sinabs runs NIR's IF).",
)
def import_nir(source: str, out: str, dt: float, reset: str) -> None:
    """Read the NIR graph SOURCE as a spiking network and save it to OUT (.npz): a file eventsim wrote
    is rebuilt exactly; another tool's is read by NIR's definitions (IF and LIF neurons that reset to 0,
    stepped with --dt; Affine, Linear, Conv2d, AvgPool2d, SumPool2d, Scale and Flatten nodes). Needs:
    pip install "eventsim[nir]"."""
    net = eventsim.read_nir(source, dt=dt, reset=reset)
    net.save(out)
    origin = "eventsim's own" if net.meta.get("source") != "nir" else f"another tool's, dt = {dt:g}, reset {reset}"
    click.echo(f"wrote {out}: {len(net.graph.nodes)} nodes, {len(net.layers)} neuron layers ({origin})")


@main.command()
@click.option(
    "--out",
    default="eventsim-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory for the reports, figures and JSON files.",
)
@click.option(
    "-T",
    "T",
    type=click.IntRange(min=1),
    help="Time steps of the detailed runs [default: per preset, the first step of the comparison from which "
    "it stays within 1 % of the ANN].",
)
@click.option(
    "--steps", default="1,2,4,8,16,32,64", callback=_steps, show_default=True, help="Steps of the comparison."
)
@click.option("--samples", type=click.IntRange(min=1), help="Use only the first N test samples (default: all 300).")
@quiet_option
def demo(out: str, T: int | None, steps: list[int], samples: int | None) -> None:
    """The main job on the bundled example (a CNN trained on scikit-learn's 8x8 digits): import it,
    check it against onnxruntime, convert it with the opi, ftbc and ttfs presets and fine-tune ftbc at the
    small T's, simulate event by event, and report accuracy per step, latency, spikes and energy against
    the ANN, with figures."""
    result = eventsim.run_demo(out, T=T, steps=steps, samples=samples, echo=click.echo, progress=_progress())
    if not result.passed:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
