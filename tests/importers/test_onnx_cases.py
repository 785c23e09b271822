"""Every ONNX operator test case for a supported op either matches its expected output or is
refused with a clear eventsim error — never a wrong number (see tests/onnx_cases.py)."""

from __future__ import annotations

import pytest
from onnx_cases import run_case, supported_cases

CASES = supported_cases()


def test_cases_were_discovered():
    ops = {c.op for c in CASES}
    assert len(CASES) > 300
    for op in ("Conv", "Gemm", "MaxPool", "AveragePool", "BatchNormalization", "Relu", "Clip", "Concat", "mixed"):
        assert op in ops


@pytest.mark.parametrize("case", CASES, ids=[f"{c.source}:{c.name}" for c in CASES])
def test_onnx_case(case):
    outcome, detail = run_case(case)
    assert outcome in ("pass", "refused"), detail
