"""eventsim: convert trained ANNs into spiking neural networks and simulate them event by event.

The public API::

    graph = eventsim.load_onnx("model.onnx")      # import (BatchNorm folded, canonical ops)
    print(graph.summary())
    y = eventsim.run_ann(graph, x)                  # the ANN in NumPy, as onnxruntime computes it
    report = eventsim.verify_onnx("model.onnx")     # agreement with onnxruntime
    snn = eventsim.convert(graph, calib_x)          # thresholds from data, v0 = θ/2
    rec = eventsim.simulate(snn, x, T=64)           # event-driven; rec.accuracy(y) at every step
    lat = eventsim.latency(rec, y, ann_predictions) # time to decision per sample
    energy = eventsim.energy_report(snn, rec)        # SNN vs ANN under a cited cost table
    report = eventsim.build_report(snn, rec, x, y)   # everything, as JSON + figures
    result = eventsim.run_demo("eventsim-demo")     # the main job on the bundled example
    result = eventsim.train(graph, x, y, T=25, encoding="latency", estimator="localzo")  # BPTT, sparse backward
    eventsim.write_nir(snn, "net.nir"); snn = eventsim.read_nir("net.nir")  # NIR (pip install "eventsim[nir]")
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .conversion import convert
from .data import load_data_file
from .demo import run_demo
from .errors import DataError, EventsimError, ModelFileError, ShapeError, UnsupportedError
from .interop import from_nir, read_nir, to_nir, write_nir
from .ir import Graph, Node, run_ann
from .measure.energy import energy_report
from .measure.latency import Latency, latency
from .measure.layer_error import conversion_error
from .measure.report import build_report
from .simulation import Recording, simulate
from .snn import NeuronLayer, SpikingNetwork
from .training import TrainResult, finetune, train, train_ttfs

try:
    __version__ = version("eventsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def load_onnx(path, input_shape=None) -> Graph:
    """Import an ONNX model as a :class:`Graph` (see :func:`eventsim.importers.onnx.load_onnx`).

    The ONNX importer is loaded on first use so that the core never needs the onnx package.
    """
    from .importers.onnx import load_onnx as _load

    return _load(path, input_shape)


def verify_onnx(path, x=None, samples: int = 16, seed: int = 0, input_shape=None, rtol: float = 1e-4, graph=None):
    """Compare eventsim's import of an ONNX model with onnxruntime
    (see :func:`eventsim.importers.onnx.verify_onnx`)."""
    from .importers.onnx import verify_onnx as _verify

    return _verify(path, x, samples=samples, seed=seed, input_shape=input_shape, rtol=rtol, graph=graph)


__all__ = [
    "Graph",
    "Node",
    "run_ann",
    "load_onnx",
    "verify_onnx",
    "load_data_file",
    "convert",
    "simulate",
    "SpikingNetwork",
    "NeuronLayer",
    "Recording",
    "latency",
    "Latency",
    "energy_report",
    "build_report",
    "run_demo",
    "train",
    "finetune",
    "train_ttfs",
    "TrainResult",
    "to_nir",
    "from_nir",
    "write_nir",
    "read_nir",
    "conversion_error",
    "EventsimError",
    "ModelFileError",
    "UnsupportedError",
    "ShapeError",
    "DataError",
    "__version__",
]
