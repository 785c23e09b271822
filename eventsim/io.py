"""Writing result files without leaving partial output behind."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_target(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block succeeds
    and is removed when it fails, so ``path`` is either complete or untouched.

    The file gets the permissions a plain ``open`` would give it (mkstemp's are 0600). A path that
    cannot be written (a parent that is a file, a directory in its place, a read-only or special
    file system such as /proc) is an :class:`OutputError` naming it, raised before the block runs
    when the place is wrong and after it, with nothing left behind, when the final write fails.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: it is a directory", "give a file name, e.g. DIR/net.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
    except OSError as exc:
        raise _output_error(path, exc) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _output_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _output_error(path: Path, exc: OSError) -> OutputError:
    """The one message for an output ``path`` that ``exc`` says cannot be written."""
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        problem = f"cannot write {str(path)!r}: {str(blocker)!r} is a file, not a directory"
    elif path.parent.is_dir():
        problem = f"cannot write {str(path)!r}: no file can be created in {str(path.parent)!r} ({exc.strerror or exc})"
    else:
        problem = f"cannot write {str(path)!r}: {exc.strerror or exc}"
    return OutputError(problem, "write to a directory you can create files in (check the path and its permissions)")


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failure leaves no partial file."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a failure leaves no partial file."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (reports name the model file a network came from by it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
