"""ONNX's own operator test cases, run through eventsim's importer and executor.

Discovers, at run time, the node test cases that the installed ``onnx`` package generates
(``onnx.backend.test.case.node.collect_testcases``) and the stored cases under
``onnx/backend/test/data/pytorch-converted`` and ``pytorch-operator``, keeps those that use an op
eventsim supports, turns every graph input except the first (the data) into a constant, and
compares eventsim's output with the expected output stored with the case.

Each case must end in one of two ways: it passes (max abs error ≤ 1e-4 · max(1, max |expected|)),
or eventsim refuses it with an :class:`eventsim.EventsimError` naming the problem. A wrong number or
any other exception is a failure.

Which cases pass is pinned in ``tests/importers/onnx_case_passes.json``: a pinned case that stops
passing (or is no longer discovered) is a coverage regression and fails the tests.
``python tests/onnx_cases.py`` writes the coverage table to ``docs/onnx_op_coverage.md`` and the pins.
"""

from __future__ import annotations

import glob
import json
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import onnx
from onnx import numpy_helper
from scipy.special import log_softmax, softmax

SUPPORTED = frozenset(
    "Conv Gemm MatMul BatchNormalization Relu Clip Min Max MaxPool AveragePool GlobalAveragePool GlobalMaxPool "
    "Flatten Reshape Squeeze Unsqueeze Transpose Add Sub Mul Div Concat Pad Floor Identity Dropout Cast Softmax "
    "LogSoftmax Resize".split()
)
TOLERANCE = 1e-4
PINS = os.path.join(os.path.dirname(__file__), "importers", "onnx_case_passes.json")


@dataclass(frozen=True)
class Case:
    """One ONNX test case: a model, its inputs and the expected first output."""

    name: str
    source: str
    model: onnx.ModelProto
    inputs: tuple[np.ndarray, ...]
    expected: np.ndarray

    @property
    def op(self) -> str:
        """The supported op the case is about, or ``mixed`` for models of several op types
        (expanded functions, small networks)."""
        ops = {n.op_type for n in self.model.graph.node} - {"Constant"}
        return ops.pop() if len(ops) == 1 else "mixed"


def _node_cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = collect_testcases()
    cases = []
    for tc in found:
        if not tc.data_sets:
            continue
        inputs, outputs = tc.data_sets[0]
        cases.append(Case(tc.name, "node", tc.model, tuple(inputs), outputs[0]))
    return cases


def _stored_cases() -> list[Case]:
    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    cases = []
    for folder in ("pytorch-converted", "pytorch-operator"):
        for model_dir in sorted(glob.glob(os.path.join(root, folder, "test_*"))):
            data = os.path.join(model_dir, "test_data_set_0")
            if not os.path.isdir(data):
                continue
            model = onnx.load(os.path.join(model_dir, "model.onnx"))
            inputs = tuple(_read_tensor(p) for p in sorted(glob.glob(os.path.join(data, "input_*.pb")), key=_index))
            outputs = sorted(glob.glob(os.path.join(data, "output_*.pb")), key=_index)
            cases.append(Case(os.path.basename(model_dir), folder, model, inputs, _read_tensor(outputs[0])))
    return cases


def _index(path: str) -> int:
    return int(path.rsplit("_", 1)[1].split(".")[0])


def _read_tensor(path: str) -> np.ndarray:
    tensor = onnx.TensorProto()
    with open(path, "rb") as handle:
        tensor.ParseFromString(handle.read())
    return numpy_helper.to_array(tensor)


@lru_cache(maxsize=1)
def supported_cases() -> tuple[Case, ...]:
    """All discovered cases whose model uses at least one op eventsim supports."""
    cases = _node_cases() + _stored_cases()
    return tuple(c for c in cases if {n.op_type for n in c.model.graph.node} & SUPPORTED)


def with_constant_inputs(case: Case) -> onnx.ModelProto:
    """The case's model with every graph input but the first turned into an initializer."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    data_inputs = [i for i in graph.input if i.name not in initialized]
    for info, value in zip(data_inputs[1:], case.inputs[1:]):
        if isinstance(value, onnx.TensorProto):  # some cases store exotic dtypes as tensors
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value)
            tensor.name = info.name
        else:
            tensor = numpy_helper.from_array(np.asarray(value), info.name)
        graph.initializer.append(tensor)
    return model


def _as_array(value) -> np.ndarray:
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else np.asarray(value)


def run_case(case: Case) -> tuple[str, str]:
    """Import and run one case: ``("pass", error)``, ``("refused", message)`` or ``("fail", why)``."""
    import eventsim

    try:
        graph = eventsim.load_onnx(with_constant_inputs(case))
        ours = eventsim.run_ann(graph, _as_array(case.inputs[0]))
        dropped = graph.meta.get("dropped_output_op")
        if dropped:  # the graph stops before a Softmax/LogSoftmax, which the case's output includes
            ours = log_softmax(ours, axis=-1) if dropped == "LogSoftmax" else softmax(ours, axis=-1)
    except eventsim.EventsimError as exc:
        return "refused", exc.problem
    except Exception as exc:  # anything else is a bug
        return "fail", f"{type(exc).__name__}: {exc}"
    expected = _as_array(case.expected)
    if expected.dtype.kind not in "fiub":
        return "fail", f"expected output of dtype {expected.dtype}, eventsim produced floats"
    expected = expected.astype(np.float64)
    if ours.shape != expected.shape:
        return "fail", f"shape {ours.shape}, expected {expected.shape}"
    error = float(np.max(np.abs(ours - expected))) if expected.size else 0.0
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    if not error <= TOLERANCE * scale:  # NaN counts as failure
        return "fail", f"max abs error {error:.3g} > {TOLERANCE * scale:.3g}"
    return "pass", f"max abs error {error:.3g}"


def pinned_passes() -> dict[str, set[str]]:
    """Per op, the cases that must pass (see the module docstring)."""
    with open(PINS) as handle:
        return {op: set(names) for op, names in json.load(handle)["pass"].items()}


def outcomes() -> dict[str, dict[str, list[str]]]:
    """Per op, the cases that pass, are refused (with eventsim's message) or fail."""
    rows: dict[str, dict[str, list[str]]] = {}
    for case in supported_cases():
        outcome, detail = run_case(case)
        entry = rows.setdefault(case.op, {"pass": [], "refused": [], "fail": []})
        entry[outcome].append(case.name if outcome == "pass" else f"{case.name}: {detail}")
    return rows


def coverage_table(rows: dict[str, dict[str, list[str]]]) -> str:
    """Markdown table: per op, how many of ONNX's cases pass and how many are refused (and why)."""
    lines = [
        "# eventsim and ONNX's operator test cases",
        "",
        "Generated by `python tests/onnx_cases.py` from the cases that the installed onnx "
        f"{onnx.__version__} ships; `tests/importers/test_onnx_cases.py` runs the same cases and fails when a",
        "case pinned as passing (`tests/importers/onnx_case_passes.json`) stops passing.",
        "Cases whose model has several op types (expanded functions, small networks) are counted as `mixed`.",
        "",
        "| op | cases | pass | refused | fail |",
        "|---|---|---|---|---|",
    ]
    for op in sorted(rows):
        e = rows[op]
        total = sum(len(v) for v in e.values())
        lines.append(f"| {op} | {total} | {len(e['pass'])} | {len(e['refused'])} | {len(e['fail'])} |")
    totals = [sum(len(e[k]) for e in rows.values()) for k in ("pass", "refused", "fail")]
    lines.append(f"| **all** | {sum(totals)} | {totals[0]} | {totals[1]} | {totals[2]} |")
    lines += ["", "## Refusals (each with eventsim's message)", ""]
    for op in sorted(rows):
        for item in rows[op]["refused"] + [f"FAIL {f}" for f in rows[op]["fail"]]:
            lines.append(f"- {op}: {item}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    found = outcomes()
    out = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "onnx_op_coverage.md")
    with open(out, "w") as handle:
        handle.write(coverage_table(found))
    passes = {op: sorted(entry["pass"]) for op, entry in sorted(found.items()) if entry["pass"]}
    with open(PINS, "w") as handle:
        json.dump({"onnx": onnx.__version__, "pass": passes}, handle, indent=1)
        handle.write("\n")
    print(open(out).read().split("## Refusals")[0])
