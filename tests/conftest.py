"""Shared fixtures: paths of the repo's exported models and of the bundled example."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
MODELS = TESTS / "models"
sys.path.insert(0, str(TESTS))  # test helper modules (onnx_cases, onnx_builders)


def manifest() -> list[dict]:
    """The exported PyTorch models (examples/export_test_models.py) and what each exercises."""
    return json.loads((MODELS / "MANIFEST.json").read_text())


@pytest.fixture
def models_dir() -> Path:
    return MODELS
