"""``eventsim`` commands. Each parses options, calls one public library function, prints, writes."""

from __future__ import annotations

import json
import sys
import traceback

import click
import numpy as np

import eventsim
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


@main.command()
@click.option("--out", type=click.Path(file_okay=False), help="Write the summary and the report as JSON here.")
def demo(out: str | None) -> None:
    """The main job on the bundled example (a CNN trained on scikit-learn's 8x8 digits):
    import it, check it against onnxruntime, and measure the ANN's test accuracy."""
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
    click.echo("Spiking conversion and simulation come next (eventsim convert / simulate are on the road map).")
    if out:
        atomic_write_text(f"{out}/graph.json", graph.to_json())
        atomic_write_text(f"{out}/verify.json", json.dumps(dict(report.to_dict(), ann_accuracy=accuracy), indent=2))
        click.echo(f"wrote {out}/graph.json and {out}/verify.json")
    if not report.passed:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
