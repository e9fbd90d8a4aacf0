"""File helpers: atomic writes and bounded reads."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError, LimitError

__all__ = ["atomic_write", "read_bytes", "MAX_FILE_BYTES"]

#: Largest file :func:`read_bytes` accepts by default (4 GiB).
MAX_FILE_BYTES = 4 << 30


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a failure leaves any existing file untouched and no partial file."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    try:
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return path


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
        raise InputError(f"{path}: no such file") from None
    if path.is_dir():
        raise InputError(f"{path}: is a directory")
    if size > max_bytes:
        raise LimitError(f"{path}: {size} bytes exceeds the limit of {max_bytes}")
    return path.read_bytes()
