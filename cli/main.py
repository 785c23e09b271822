"""``eventsim`` commands. Each parses options, calls one public library function, prints, writes."""

from __future__ import annotations

import json
import sys
import traceback

import click
import numpy as np

import eventsim
from eventsim.convert import THRESHOLDS
from eventsim.errors import EventsimError
from eventsim.io import atomic_write_text


class _Group(click.Group):
    """Turns user errors into one message and a non-zero exit (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context):
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


input_shape_option = click.option(
    "--input-shape",
    callback=_shape,
    metavar="C,H,W",
    help="Per-sample input shape (no batch axis), for models whose input has dynamic dimensions.",
)


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
                  eventsim convert MODEL.onnx --calib CALIB.npz -o net.npz
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
@click.option("--samples", default=16, show_default=True, help="Samples to compare (random ones without --data).")
@click.option("--seed", default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz file.")
@click.option("--y-key", default="y", show_default=True, help="Name of the label array in the .npz file.")
@click.option("--rtol", default=1e-4, show_default=True, help="Tolerance relative to max(1, max |output|).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the report as JSON here.")
@input_shape_option
def verify(model, data, samples, seed, x_key, y_key, rtol, json_path, input_shape) -> None:
    """Run MODEL in onnxruntime and in eventsim's executor and compare the outputs (exit 1 if they differ)."""
    x = y = None
    if data:
        x, y = eventsim.load_data_file(data, x_key=x_key, y_key=y_key)
        x, y = x[:samples], (y[:samples] if y is not None else None)
    report = eventsim.verify_onnx(model, x=x, samples=samples, seed=seed, input_shape=input_shape, rtol=rtol)
    _print_verify(report)
    doc = report.to_dict()
    if y is not None:
        pred = np.argmax(eventsim.run_ann(eventsim.load_onnx(model, input_shape), x), axis=1)
        doc["ann_accuracy"] = float(np.mean(pred == y))
        click.echo(f"ANN accuracy on these samples: {doc['ann_accuracy']:.2%}")
    if json_path:
        atomic_write_text(json_path, json.dumps(doc, indent=2))
    if not report.passed:
        sys.exit(1)


def _print_verify(report) -> None:
    status = click.style("OK", fg="green") if report.passed else click.style("MISMATCH", fg="red")
    click.echo(f"compared output {report.onnx_output!r} on {report.inputs}")
    click.echo(
        f"max |eventsim - onnxruntime| = {report.max_abs_error:.3g}  (tolerance {report.tolerance:.3g})  {status}"
    )
    if report.argmax_agreement is not None:
        click.echo(f"same predicted class: {report.argmax_agreement:.2%} of samples")


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


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--calib", type=click.Path(dir_okay=False), help="Calibration inputs (.npz with x, or .npy).")
@click.option("--x-key", default="x", show_default=True, help="Name of the input array in the .npz file.")
@click.option(
    "--threshold",
    type=click.Choice(THRESHOLDS),
    default="max",
    show_default=True,
    help="max: largest activation on the calibration data; clip: the model's own bound.",
)
@click.option(
    "--v0",
    type=click.Choice(["half", "zero"]),
    default="half",
    show_default=True,
    help="Initial membrane potential: θ/2 or 0.",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Network file to write (.npz).")
@input_shape_option
def convert(model, calib, x_key, threshold, v0, output, input_shape) -> None:
    """Convert MODEL (ONNX) into a spiking network file."""
    graph = eventsim.load_onnx(model, input_shape=input_shape)
    x = _load_x(calib, x_key, None, None)[0] if calib else None
    net = eventsim.convert(graph, x, threshold=threshold, v0=v0)
    net.meta["source_model"] = str(model)
    net.save(output)
    click.echo(f"{'layer':45s} {'op':6s} {'neurons':>8s} {'threshold':>12s}")
    for node in graph.activation_nodes():
        theta = net.layers[node.name].threshold
        text = f"{float(theta):.4g}" if theta.ndim == 0 else f"{theta.min():.3g}..{theta.max():.3g}"
        click.echo(f"{node.name[-45:]:45s} {node.op:6s} {int(np.prod(node.shape)):8d} {text:>12s}")
    click.echo(f"wrote {output}")


@main.command()
@click.argument("network", type=click.Path(dir_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Inputs (and labels y): .npz or .npy.")
@click.option("-T", "T", default=64, show_default=True, help="Time steps.")
@click.option("--engine", type=click.Choice(["event", "reference"]), default="event", show_default=True)
@click.option("--encoding", type=click.Choice(["direct", "rate"]), default="direct", show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the rate coding.")
@click.option("--samples", type=int, help="Use only the first N samples.")
@click.option(
    "--steps",
    default="1,2,4,8,16,32,64,128,256,512,1024",
    callback=_steps,
    show_default=True,
    help="Steps at which to print the accuracy (those ≤ T).",
)
@click.option("--x-key", default="x", show_default=True)
@click.option("--y-key", default="y", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the results as JSON here.")
def simulate(network, data, T, engine, encoding, batch_size, seed, samples, steps, x_key, y_key, json_path) -> None:
    """Simulate NETWORK (from 'eventsim convert') on DATA and report accuracy per step, spikes and synaptic events."""
    net = eventsim.SpikingNetwork.load(network)
    x, y = _load_x(data, x_key, y_key, samples)
    with click.progressbar(length=len(x), label=f"{engine} engine, T={T}", file=sys.stderr) as bar:
        rec = eventsim.simulate(
            net,
            x,
            T,
            engine=engine,
            encoding=encoding,
            seed=seed,
            batch_size=batch_size,
            progress=lambda done, total: bar.update(done - bar.pos),
        )
    report = _simulation_report(net, rec, x, y, [s for s in steps if s <= T] or [T])
    if json_path:
        atomic_write_text(json_path, json.dumps(report, indent=2))


def _simulation_report(net, rec, x, y, steps) -> dict:
    """Print the accuracy per step, spikes and synaptic events of a run, and return them as a dict."""
    ann = np.argmax(eventsim.run_ann(net.graph, x).reshape(len(x), -1), axis=1)
    agreement = rec.agreement(ann)
    report = {
        "T": rec.T,
        "samples": rec.samples,
        "settings": rec.settings,
        "wall_seconds": rec.wall_seconds,
        "steps": steps,
        "agreement_with_ann": [float(agreement[s - 1]) for s in steps],
    }
    header = f"{'step':>6s} {'SNN = ANN':>10s}"
    if y is not None:
        accuracy = rec.accuracy(y)
        report["accuracy"] = [float(accuracy[s - 1]) for s in steps]
        report["ann_accuracy"] = float(np.mean(ann == y))
        header += f" {'accuracy':>9s}"
        click.echo(f"ANN accuracy: {report['ann_accuracy']:.2%}")
    click.echo(header)
    for i, s in enumerate(steps):
        line = f"{s:6d} {report['agreement_with_ann'][i]:10.2%}"
        if y is not None:
            line += f" {report['accuracy'][i]:9.2%}"
        click.echo(line)
    rates = rec.firing_rates()
    click.echo(f"\n{'neuron layer':45s} {'neurons':>8s} {'spikes/sample':>14s} {'rate/step':>10s}")
    per_sample = rec.spikes_per_sample.mean(axis=0)
    for k, name in enumerate(rec.layers):
        click.echo(f"{name[-45:]:45s} {rec.neurons[k]:8d} {per_sample[k]:14.1f} {rates[k]:10.4f}")
    sops = rec.sops_per_sample.mean(axis=0)
    click.echo(f"\n{'synaptic layer':45s} {'events/sample':>14s}")
    for k, name in enumerate(rec.synaptic_nodes):
        click.echo(f"{name[-45:]:45s} {sops[k]:14.0f}")
    click.echo(
        f"\n{rec.samples} samples x {rec.T} steps in {rec.wall_seconds:.2f} s "
        f"({rec.samples / max(rec.wall_seconds, 1e-9):.1f} samples/s, {rec.settings['engine']} engine)"
    )
    report.update(
        {
            "layers": rec.layers,
            "neurons": rec.neurons.tolist(),
            "spikes_per_sample": per_sample.tolist(),
            "firing_rates": rates.tolist(),
            "synaptic_nodes": rec.synaptic_nodes,
            "synaptic_events_per_sample": sops.tolist(),
        }
    )
    if rec.settings.get("bias_steps") and rec.T > rec.settings["bias_steps"]:
        click.echo(
            f"note: temporal biases were calibrated for {rec.settings['bias_steps']} steps; "
            "later steps run without them"
        )
    return report


@main.command()
@click.option("--out", type=click.Path(file_okay=False), help="Write the summary and the report as JSON here.")
def demo(out: str | None) -> None:
    """The main job on the bundled example (a CNN trained on scikit-learn's 8x8 digits): import it,
    check it against onnxruntime, convert it to a spiking network and simulate it event by event."""
    from eventsim.examples import example_info, example_model_path, load_example_data

    path = example_model_path()
    info = example_info()
    click.echo(f"== model: {path.name} ({info.get('dataset', '')}, trained by {info.get('trained_by', '')})")
    graph = eventsim.load_onnx(path)
    click.echo(graph.summary())
    data = load_example_data()
    click.echo("\n== verify against onnxruntime on the test split")
    report = eventsim.verify_onnx(path, x=data["x_test"])
    _print_verify(report)
    accuracy = float(np.mean(np.argmax(eventsim.run_ann(graph, data["x_test"]), axis=1) == data["y_test"]))
    click.echo(f"\n== ANN test accuracy (eventsim executor): {accuracy:.2%} on {len(data['y_test'])} samples")
    click.echo("\n== convert: thresholds = largest activation on the calibration split, v0 = θ/2")
    net = eventsim.convert(graph, data["x_calib"], threshold="max", v0="half")
    click.echo("== simulate: event-driven engine, direct coding, T = 64")
    rec = eventsim.simulate(net, data["x_test"], 64)
    sim = _simulation_report(net, rec, data["x_test"], data["y_test"], [1, 2, 4, 8, 16, 32, 64])
    if out:
        atomic_write_text(f"{out}/graph.json", graph.to_json())
        atomic_write_text(f"{out}/verify.json", json.dumps(dict(report.to_dict(), ann_accuracy=accuracy), indent=2))
        atomic_write_text(f"{out}/simulation.json", json.dumps(sim, indent=2))
        click.echo(f"wrote {out}/graph.json, {out}/verify.json and {out}/simulation.json")
    if not report.passed:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
