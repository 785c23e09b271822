"""Speed of eventsim's NumPy ANN executor against onnxruntime on the same models and inputs.

The executor is what calibration runs on (thresholds, OPI, FTBC need every activation of the
calibration set), so it should not be far behind a production runtime. Prints, per model and
batch size, images/s of both and the ratio eventsim/onnxruntime measured in this run.

    python bench/bench_ann_executor.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import eventsim
from eventsim.examples import example_model_path

MODELS = Path(__file__).resolve().parent.parent / "tests" / "models"


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    models = [
        example_model_path(),
        MODELS / "lenet_dynamic.onnx",
        MODELS / "lenet_dynamo.onnx",
        MODELS / "nhwc_input.onnx",
    ]
    print(f"{'model':24s} {'batch':>5s} {'eventsim img/s':>15s} {'onnxruntime img/s':>18s} {'eventsim/ort':>12s}")
    for path in models:
        graph = eventsim.load_onnx(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for batch in (1, 64, 256):
            x = np.random.default_rng(0).random((batch,) + graph.input_shape, dtype=np.float32)
            t_ours = best_time(lambda: eventsim.run_ann(graph, x), args.repeats)
            t_ort = best_time(lambda: session.run(None, {name: x}), args.repeats)
            print(f"{path.stem:24s} {batch:5d} {batch / t_ours:15,.0f} {batch / t_ort:18,.0f} {t_ort / t_ours:12.2f}")


if __name__ == "__main__":
    main()
