"""Every ONNX operator test case for a supported op either matches its expected output or is
refused with a clear eventsim error — never a wrong number — and every case pinned as passing
still passes (see tests/onnx_cases.py)."""

from __future__ import annotations

import pytest
from onnx_cases import pinned_passes, run_case, supported_cases

CASES = supported_cases()
PINNED = pinned_passes()


def test_cases_were_discovered():
    ops = {c.op for c in CASES}
    assert len(CASES) > 300
    for op in ("Conv", "Gemm", "MaxPool", "AveragePool", "BatchNormalization", "Relu", "Clip", "Concat", "mixed"):
        assert op in ops


def test_every_pinned_case_is_discovered():
    """Per op, at least as many cases must pass as are pinned: none of the pinned may go missing."""
    discovered = {(c.op, c.name) for c in CASES}
    for op, names in PINNED.items():
        missing = sorted(name for name in names if (op, name) not in discovered)
        assert not missing, f"{op}: pinned cases not found (re-pin with python tests/onnx_cases.py): {missing}"
    assert sum(len(names) for names in PINNED.values()) >= 126


@pytest.mark.parametrize("case", CASES, ids=[f"{c.source}:{c.name}" for c in CASES])
def test_onnx_case(case):
    outcome, detail = run_case(case)
    if case.name in PINNED.get(case.op, ()):
        assert outcome == "pass", f"pinned to pass: {detail}"
    else:
        assert outcome in ("pass", "refused"), detail
