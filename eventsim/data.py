"""Loading and checking the arrays users pass in (data files, batches)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .errors import DataError


def check_batch(x: np.ndarray, sample_shape: tuple[int, ...], name: str = "x") -> np.ndarray:
    """Validate a batch against a model's per-sample input shape and return it as float32.

    Parameters
    ----------
    x : numpy.ndarray
        Batch with the samples along axis 0.
    sample_shape : tuple of int
        Per-sample shape the model expects.
    name : str
        How to call the array in error messages.

    Raises
    ------
    DataError
        If ``x`` is not numeric, has the wrong shape, or holds NaN or infinite values.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise DataError(f"array {name!r} has dtype {x.dtype}, not numbers", "pass a float array")
    if tuple(x.shape[1:]) != tuple(sample_shape):
        hint = ""
        if tuple(x.shape) == tuple(sample_shape):
            hint = " (a single sample: add a batch axis, e.g. x[None])"
        raise DataError(
            f"array {name!r} has shape {tuple(x.shape)}, but the model takes (N, {', '.join(map(str, sample_shape))})"
            + hint,
            "reshape the data to (N,) + the model's input shape, or pick another array with --x-key",
        )
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported below
        x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise DataError(f"array {name!r} holds {bad} NaN or infinite values", "clean or impute the data first")
    return x


def load_data_file(path: str | Path, x_key: str = "x", y_key: str | None = "y") -> tuple[np.ndarray, np.ndarray | None]:
    """Read inputs and optional labels from ``.npz`` (keys ``x_key``, ``y_key``) or ``.npy`` (x only).

    Never unpickles: object arrays are refused.

    Returns
    -------
    x : numpy.ndarray
    y : numpy.ndarray or None
        Integer labels of shape (N,), when the file has them.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist", "check the path")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            if x_key not in keys:
                raise DataError(
                    f"data file {str(path)!r} has no array {x_key!r} (it has {keys})",
                    "name the input array with --x-key",
                )
            x = archive[x_key]
            y = archive[y_key] if y_key and y_key in keys else None
    except DataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"cannot read data file {str(path)!r}: {exc}",
            "pass an .npz (np.savez) or .npy file of numeric arrays; object arrays are refused",
        ) from None
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or y.dtype.kind not in "iu" or len(y) != len(x):
            raise DataError(
                f"labels {y_key!r} in {str(path)!r} must be integers of shape ({len(x)},), got {y.dtype} {y.shape}",
                "store class indices, not one-hot vectors",
            )
    return x, y
