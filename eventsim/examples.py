"""The example model and data bundled with eventsim (trained by ``examples/train_digits.py``)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np


def data_dir() -> Path:
    """Folder of the bundled files."""
    return Path(str(files("eventsim") / "data"))


def example_model_path(name: str = "digits_cnn") -> Path:
    """Path of a bundled ONNX model (``digits_cnn``: LeNet-style CNN with BatchNorm, 8x8 digits).

    Also bundled (trained by ``examples/train_models.py``; data ``mnist.npz`` or ``digits.npz``):

    * ``mnist_lenet``: LeNet-style CNN with BatchNorm, ReLU and max-pooling, 28x28 MNIST
    * ``mnist_clip``: the same CNN without BatchNorm, clipped activation ``clip(x, 0, 2)``
    * ``mnist_qcfs``: the same CNN with BatchNorm and QCFS activations (L = 8, learned λ per layer)
    * ``mnist_resnet``: small ResNet (identity and stride-2 projection blocks, global average pooling), MNIST
    * ``digits_mlp``: MLP with the input normalisation inside the model, 8x8 digits
    """
    path = data_dir() / f"{name}.onnx"
    if not path.is_file():
        available = sorted(p.stem for p in data_dir().glob("*.onnx"))
        raise FileNotFoundError(f"no bundled model {name!r}; available: {available}")
    return path


def example_info(name: str = "digits_cnn") -> dict:
    """What the bundled model is, how it was trained, and its ANN test accuracy."""
    return json.loads((data_dir() / f"{name}.json").read_text())


def example_names() -> list[str]:
    """Names of all bundled models."""
    return sorted(p.stem for p in data_dir().glob("*.onnx"))


def example_data_name(name: str) -> str:
    """The data file (stem) a bundled model was trained and is tested on."""
    info = example_info(name)
    return info.get("data", info.get("dataset", "digits"))


def load_example_data(name: str = "digits") -> dict[str, np.ndarray]:
    """The bundled calibration and test split: ``x_calib``, ``y_calib``, ``x_test``, ``y_test``."""
    with np.load(data_dir() / f"{name}.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}
