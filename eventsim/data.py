"""Loading and checking the arrays users pass in (data files, batches).

Data files are read without ``np.load``'s trust: the format is told by the file's first bytes (not
its suffix), an array's header is checked against the bytes the file holds before anything is
allocated (a header may claim petabytes), and object arrays or pickles are refused, never loaded.
"""

from __future__ import annotations

import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import DataError

#: What reading a damaged .npy or .npz can raise (the callers name the file and the fix).
ARCHIVE_DAMAGE = (
    ValueError, OSError, EOFError, KeyError, IndexError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
    struct.error, NotImplementedError,
)  # fmt: skip

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"
_FIX_FILE = "pass an .npz (np.savez) or .npy (np.save) file of numeric arrays; object arrays and pickles are refused"


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
        raise DataError(
            f"array {name!r} has shape {tuple(x.shape)}, but the model takes (N, {', '.join(map(str, sample_shape))})",
            _shape_fix(tuple(x.shape), tuple(sample_shape)),
        )
    with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported below
        x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise DataError(f"array {name!r} holds {bad} NaN or infinite values", "clean or impute the data first")
    return x


def _shape_fix(shape: tuple[int, ...], sample_shape: tuple[int, ...]) -> str:
    """What to do about data of ``shape`` for a model that takes ``sample_shape`` per sample."""
    if shape == sample_shape:
        return "the data is a single sample: add a batch axis, e.g. x[None]"
    sample = shape[1:]
    if len(sample) == len(sample_shape) and sorted(sample) == sorted(sample_shape):
        # the same axes in another order (NCHW data for a channels-last model, or the reverse): a
        # reshape would scramble the pixels, a transpose moves the axes
        free = list(range(len(sample)))
        perm = []
        for d in sample_shape:
            axis = next(a for a in free if sample[a] == d)
            free.remove(axis)
            perm.append(axis + 1)
        axes = ", ".join(map(str, [0] + perm))
        return f"the axes are in another order: transpose the data, x.transpose({axes}) (a reshape would scramble them)"
    if int(np.prod(sample)) == int(np.prod(sample_shape)):
        return "the data holds as many values per sample in another shape: reshape it to (N,) + the model's input shape"
    return "pass data of the model's input shape (N,) + input shape, or pick another array with --x-key"


def _read_npy(handle: BinaryIO, size: int, where: str) -> np.ndarray:
    """One array from an open .npy stream of ``size`` bytes, its header checked before allocating."""
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise DataError(f"{where} has a damaged array header ({exc})", _FIX_FILE) from None
    if dtype.hasobject:
        raise DataError(f"{where} holds an object array (pickled Python objects); eventsim never loads one", _FIX_FILE)
    count = int(np.prod(shape, dtype=object))
    need = count * dtype.itemsize
    available = size - handle.tell()
    if need > available:
        raise DataError(
            f"{where} claims an array of shape {tuple(shape)} ({need:,} bytes) but holds {max(available, 0):,} bytes "
            "of data: the file is truncated or damaged",
            "write the file again with np.savez or np.save",
        )
    array = np.empty(count, dtype)  # the header fits the file: allocate once and read into it
    view = memoryview(array.view(np.uint8) if need else bytearray())
    done = 0
    while done < need:
        got = handle.readinto(view[done:])
        if not got:
            raise DataError(f"{where} ends before its array does: the file is truncated", "write the file again")
        done += got
    return array.reshape(shape, order="F" if fortran else "C")


def read_npz(path: str | Path, keys: list[str | None] | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """The names of the arrays in the .npz ``path`` and the arrays of ``keys`` (None: all) that it
    holds, each header checked against the bytes it has before anything is allocated; object arrays
    are refused. Raises :class:`DataError` (and zipfile's or zlib's errors for a damaged archive)."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: info for info in archive.infolist()}
        names = [name[:-4] for name in members if name.endswith(".npy")]
        if not names:
            raise DataError(
                f"{str(path)!r} is a zip archive without NumPy arrays (members: {sorted(members)[:5]})", _FIX_FILE
            )
        arrays = {}
        for key in names if keys is None else keys:
            if key and key in names:
                info = members[f"{key}.npy"]
                with archive.open(info) as handle:
                    arrays[key] = _read_npy(handle, info.file_size, f"array {key!r} of {str(path)!r}")
    return names, arrays


def is_zip(path: str | Path) -> bool:
    """Whether the file starts as a zip archive (an .npz) does."""
    with open(path, "rb") as handle:
        return handle.read(4) in (_ZIP_MAGIC, _EMPTY_ZIP)


def _read_file(path: Path, x_key: str, y_key: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    with open(path, "rb") as handle:
        head = handle.read(8)
        if head.startswith(_NPY_MAGIC):
            handle.seek(0)
            return _read_npy(handle, path.stat().st_size, f"data file {str(path)!r}"), None
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP)):
        names, arrays = read_npz(path, [x_key, y_key])
        if x_key not in arrays:
            raise DataError(
                f"data file {str(path)!r} has no array {x_key!r} (it has {names})", "name the input array with --x-key"
            )
        return arrays[x_key], arrays.get(y_key) if y_key else None
    if not head:
        raise DataError(f"data file {str(path)!r} is empty", _FIX_FILE)
    kind = "neither .npz nor .npy"
    if head[:1] == b"\x80":
        kind = "a Python pickle, which eventsim never loads"
    elif head[:1] == b"\x08":  # an ONNX file starts with its IR version (protobuf field 1)
        kind = "neither .npz nor .npy (it looks like an ONNX model)"
    raise DataError(f"data file {str(path)!r} is {kind}", _FIX_FILE)


def load_data_file(path: str | Path, x_key: str = "x", y_key: str | None = "y") -> tuple[np.ndarray, np.ndarray | None]:
    """Read inputs and optional labels from ``.npz`` (keys ``x_key``, ``y_key``) or ``.npy`` (x only).

    The format is told by the file's content, whatever its suffix. Never unpickles: object arrays
    and pickles are refused, and an array whose header claims more data than the file holds is
    refused before anything is allocated. The inputs must be numbers, finite, with a sample axis and
    at least one sample.

    Returns
    -------
    x : numpy.ndarray
    y : numpy.ndarray or None
        Integer labels of shape (N,), when the file has them.

    Raises
    ------
    DataError
        Naming the file, the array and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} does not exist", "check the path")
    try:
        x, y = _read_file(path, x_key, y_key)
    except ARCHIVE_DAMAGE as exc:
        raise DataError(f"cannot read data file {str(path)!r}: {type(exc).__name__}: {exc}", _FIX_FILE) from None
    where = f"array {x_key!r} in {str(path)!r}"
    if x.dtype.kind not in "fiub":
        raise DataError(f"{where} has dtype {x.dtype}, not real numbers", "store the inputs as a float array")
    if x.ndim < 2:
        raise DataError(
            f"{where} has shape {x.shape}: it needs a sample axis first and the sample's axes after it",
            "store the inputs as (N,) + the model's input shape; one sample is x[None]",
        )
    if len(x) == 0:
        raise DataError(f"{where} holds no samples (shape {x.shape})", "pass a file with at least one sample")
    if x.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(x)
        if not finite.all():
            bad = int(x.size - np.count_nonzero(finite))
            raise DataError(f"{where} holds {bad} NaN or infinite values", "clean or impute the data first")
    if x.dtype.kind in "ui" and x.size and int(x.max()) > 1:
        warnings.warn(
            f"{where} holds integers up to {int(x.max())} (dtype {x.dtype}); a model trained on images usually "
            "reads floats in [0, 1]: store x / 255 if it does",
            stacklevel=2,
        )
    if y is not None:
        y = _check_label_array(np.asarray(y), len(x), f"labels {y_key!r} in {str(path)!r}")
    return x, y


def _check_label_array(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """Integer labels of shape (n,), with the message that names what is wrong."""
    if y.ndim == 2 and y.shape[0] == n and y.shape[1] > 1:
        raise DataError(
            f"{where} has shape {y.shape}: one row per sample, which looks like one-hot vectors",
            "store class indices of shape (N,), e.g. y.argmax(axis=1)",
        )
    if y.ndim != 1:
        raise DataError(f"{where} has shape {y.shape}; labels are one class index per sample, shape ({n},)")
    if len(y) != n:
        raise DataError(
            f"{where} holds {len(y)} labels for {n} samples", "store one label per sample, in the order of the inputs"
        )
    if y.dtype.kind not in "iu":
        raise DataError(
            f"{where} has dtype {y.dtype}; labels are integer class indices",
            "store them as integers, e.g. y.astype(np.int64)",
        )
    if n and y.min() < 0:
        raise DataError(f"{where} holds negative labels (down to {y.min()})", "store class indices 0..K-1")
    return y


def check_labels(y: np.ndarray | None, classes: int, name: str = "y") -> np.ndarray | None:
    """Refuse labels that name no output of a model with ``classes`` outputs (None passes)."""
    if y is None:
        return None
    y = _check_label_array(np.asarray(y), len(y), f"labels {name!r}")
    if len(y) and int(y.max()) >= classes:
        raise DataError(
            f"labels {name!r} range over [{int(y.min())}, {int(y.max())}], but the model has {classes} outputs "
            f"(classes 0..{classes - 1})",
            "pass class indices 0..K-1 for a model of K outputs, or pick the right label array with --y-key",
        )
    return y
