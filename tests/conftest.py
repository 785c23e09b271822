"""Shared test settings and fixtures.

Hypothesis runs every property with the ``eventsim`` profile below (no deadline: the first example
of a property may compile Numba kernels; health checks that flag slow or large examples are off,
since simulating a network is both). ``EVENTSIM_TEST_SCALE=20 pytest`` runs twenty times as many
examples per property, a deeper search than CI's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).parent
MODELS = TESTS / "models"
sys.path.insert(0, str(TESTS))  # test helper modules (onnx_builders, onnx_cases, snn_builders, naive)

settings.register_profile(
    "eventsim",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("eventsim")

#: How many times the default number of examples each property runs.
SCALE = float(os.environ.get("EVENTSIM_TEST_SCALE", "1"))


def examples(n: int) -> int:
    """``n`` examples, scaled by ``EVENTSIM_TEST_SCALE``."""
    return max(1, int(n * SCALE))


def manifest() -> list[dict]:
    """The exported PyTorch models (examples/export_test_models.py) and what each exercises."""
    return json.loads((MODELS / "MANIFEST.json").read_text())


@pytest.fixture
def models_dir() -> Path:
    return MODELS


@pytest.fixture(scope="session")
def digits():
    """The bundled digits CNN and its calibration and test data."""
    import eventsim
    from eventsim.examples import example_model_path, load_example_data

    return eventsim.load_onnx(example_model_path()), load_example_data()


@pytest.fixture(scope="session")
def digits_opi():
    """The bundled digits CNN converted with ``opi``, 40 test inputs and their labels."""
    import eventsim
    from eventsim.examples import example_model_path, load_example_data

    graph = eventsim.load_onnx(example_model_path())
    data = load_example_data()
    return eventsim.convert(graph, data["x_calib"], "opi"), data["x_test"][:40], data["y_test"][:40]
