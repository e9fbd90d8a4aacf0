"""File helpers: atomic writes and bounded reads."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, InputFileError, LimitError

__all__ = ["atomic_open", "atomic_write", "atomic_directory", "read_bytes", "MAX_FILE_BYTES"]

#: Largest file :func:`read_bytes` accepts by default (4 GiB).
MAX_FILE_BYTES = 4 << 30


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` when the block ends without error; on an error, any existing
    file stays untouched and no partial file is left. Its ``name`` is the temporary file's path, for
    writers that reopen it (memory maps)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=_parent(path))
    os.close(fd)
    try:
        os.chmod(tmp, _mode_for(path))
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a failure leaves any existing file untouched and no partial file."""
    with atomic_open(path) as fh:
        fh.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A new directory (e.g. a zarr store) that is renamed to ``path`` when the block ends without error.

    On an error the new directory is removed and an existing ``path`` stays as it was. An existing
    ``path`` is an :class:`InputError` unless ``overwrite``; then it is replaced (removed after the new
    one is in place).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists (overwrite=True, or --overwrite on the command line, replaces it)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=_parent(path)))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=_parent(path)))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _parent(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _mode_for(path: Path) -> int:
    """The existing file's permissions, or what ``open()`` would give a new file under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_bytes(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole file, refusing files larger than ``max_bytes`` before reading."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    if path.is_dir():
        raise InputFileError(f"{path}: is a directory")
    if size > max_bytes:
        raise LimitError(f"{path}: {size} bytes exceeds the limit of {max_bytes}")
    return path.read_bytes()
