"""File helpers: atomic writes, bounded reads, and recovery from interrupted writes.

What an output path names decides how :func:`atomic_open` writes it (like ``cp``):

- a new path or a regular file is replaced atomically: the data goes into a temporary file beside
  it, is synced, and is renamed over the path only when complete;
- a symbolic link (or a chain of them) is followed and its target is written as above; the link
  stays, and a dangling link's target is created;
- a regular file with other hard links is rewritten in place once the temporary file is complete,
  so every link sees the new content (only that final copy is not atomic);
- a character or block device or a FIFO, also through a link such as ``/dev/stdout``, is written
  directly (nothing can be renamed over it);
- a directory, a socket or a symbolic link loop is refused with an :class:`InputError`.

An ``OSError`` names the path the caller gave, never the temporary file. On an error or an
interruption (SIGINT, or SIGTERM/SIGHUP once :func:`install_signal_handlers` ran) the temporary
file is removed and an existing file stays as it was. ``kill -9`` or a power loss cannot be caught:
they can leave a temporary named ``.NAME.codecframe-HOST-PID-XXXXXXXX.part`` (or, for
:func:`atomic_directory`, ``.old``); the next atomic write to the same path removes those whose
process is gone and restores or completes an interrupted directory swap.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, InputFileError, LimitError

__all__ = ["atomic_open", "atomic_write", "atomic_directory", "read_bytes", "clean_stale", "stale_temporaries",
           "install_signal_handlers", "is_device_output", "Terminated", "MAX_FILE_BYTES"]

#: Largest file :func:`read_bytes` accepts by default (4 GiB).
MAX_FILE_BYTES = 4 << 30
_TAG = "codecframe"
_NAME_KEEP = 100  # characters of the output name kept in a temporary's name (file names end at 255 bytes)
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
log = logging.getLogger(__name__)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP (see :func:`install_signal_handlers`)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signal.Signals(signum).name}")


def install_signal_handlers() -> None:
    """Make SIGTERM and SIGHUP raise :class:`Terminated` (a ``KeyboardInterrupt``) in the main thread,
    so they unwind like Ctrl-C and remove temporary files. Signals set to be ignored (``nohup``) stay
    ignored; outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _terminate)


# ---------------------------------------------------------------------- temporaries
def _prefix(path: Path) -> str:
    return f".{path.name[:_NAME_KEEP]}.{_TAG}-"


def _new_tag() -> str:
    return f"{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def _temporaries(path: Path) -> dict[str, dict[str, Path]]:
    """This host's temporaries for ``path`` whose process is gone: ``{tag: {"part"|"old": path}}``."""
    pattern = re.compile(rf"{re.escape(_prefix(path))}({_HOST}-(\d+)-[0-9a-f]{{8}})\.(part|old)")
    found: dict[str, dict[str, Path]] = {}
    try:
        names = os.listdir(_parent(path))
    except OSError:
        return found
    for name in names:
        m = pattern.fullmatch(name)
        if m and not _alive(int(m.group(2))):
            found.setdefault(m.group(1), {})[m.group(3)] = _parent(path) / name
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """What killed writers to ``path`` left beside it (this host's, their process gone), which the next
    atomic write to ``path`` cleans up (:func:`clean_stale`)."""
    return sorted(p for items in _temporaries(Path(path)).values() for p in items.values())


def clean_stale(path: str | os.PathLike[str]) -> list[str]:
    """Remove what killed writers to ``path`` left behind; returns one line per action.

    A temporary file or directory (``.part``) is removed. A directory swap that was cut off (an
    ``.old`` directory holding the previous store) is completed when the new store had already been
    finished (its ``.part`` exists beside the ``.old``), else the previous store is put back; an
    ``.old`` left after a completed swap is removed. Only temporaries of this host whose process is
    gone are touched.
    """
    path = Path(path)
    actions = []
    for tag, items in sorted(_temporaries(path).items()):
        part, old = items.get("part"), items.get("old")
        if old is not None and old.is_dir() and any(name != path.name for name in os.listdir(old)):
            continue  # another path whose name starts with the same _NAME_KEEP characters
        previous = old / path.name if old is not None else None
        if previous is not None and previous.exists() and not os.path.lexists(path):
            if part is not None and part.is_dir():
                os.replace(part, path)
                actions.append(f"{path}: completed the replacement cut off in process {tag}")
                part = None
            else:
                os.replace(previous, path)
                actions.append(f"{path}: restored the previous version from {old.name}")
        for leftover in (part, old):
            if leftover is not None:
                _remove(leftover)
                actions.append(f"{path}: removed {leftover.name}, left by a killed process")
    for line in actions:
        log.warning("%s", line)
    return actions


def _remove(path: Path) -> None:
    """Remove a temporary; a directory that something still writes into is retried, then reported."""
    if path.is_dir() and not path.is_symlink():
        for _ in range(3):
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                return
            time.sleep(0.1)
        log.warning("%s: not completely removed; the next write to the same path removes it once this process "
                    "has ended", path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# ---------------------------------------------------------------------- output paths
def _resolve(path: Path) -> tuple[Path, str]:
    """(where to write, how): "new", "file", "linked" (a regular file with other hard links) or "device"."""
    try:
        st = os.stat(path)  # through symbolic links, /proc's fd links (/dev/stdout) included
    except FileNotFoundError:
        st = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: symbolic link loop") from None
        raise _naming(exc, path) from None
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        return path, "device"
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file"
        raise InputError(f"{path}: is {kind}; give a file name as the output")
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if st is None:
        return target, "new"
    return target, "linked" if st.st_nlink > 1 else "file"


def is_device_output(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names (through symbolic links) a device or FIFO, which :func:`atomic_open`
    writes directly rather than through a temporary file."""
    try:
        return _resolve(Path(path))[1] == "device"
    except InputError:
        return False


def _naming(exc: OSError, path: Path, *internal: Path | str) -> OSError:
    """``exc`` with the caller's ``path`` in place of a temporary or resolved one."""
    names = {str(p) for p in internal}
    if exc.filename is not None and str(exc.filename) in names:
        exc.filename = str(path)
        if exc.filename2 is not None and str(exc.filename2) in names | {str(path)}:
            exc.filename2 = None
    return exc


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file for the output ``path``, written as the module docstring describes: for a
    regular file, ``path`` changes only when the block ends without error, and no temporary is left
    behind. Its ``name`` is the file actually written (the temporary one, for writers that reopen it
    through a memory map; a device's own path)."""
    path = Path(path)
    target, kind = _resolve(path)
    if kind == "device":
        try:
            with open(target, "wb") as fh:
                yield fh
        except OSError as exc:
            raise _naming(exc, path, target) from None
        return
    clean_stale(target)
    tmp = _parent(target) / f"{_prefix(target)}{_new_tag()}.part"
    mode = _mode_for(target)
    try:
        fh = open(tmp, "xb")
    except OSError as exc:
        if exc.strerror:
            exc.strerror += f" (an atomic write creates its temporary file in {_parent(target)})"
        raise _naming(exc, path, tmp) from None
    try:
        with fh:
            os.chmod(tmp, mode)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if kind == "linked":
            with open(tmp, "rb") as src, open(target, "r+b") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.truncate()
                dst.flush()
                os.fsync(dst.fileno())
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, OSError):
            raise _naming(exc, path, tmp, target) from None
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_open`."""
    with atomic_open(path) as fh:
        fh.write(data)
    return Path(path)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A new directory (e.g. a zarr store) that is renamed to ``path`` when the block ends without error.

    On an error or an interruption the new directory is removed and an existing ``path`` stays as it
    was. An existing ``path`` is an :class:`InputError` unless ``overwrite``; then it is replaced:
    moved aside into ``.NAME.codecframe-…old/``, the new one renamed into place, the old one removed.
    A process killed in between leaves both; :func:`clean_stale`, which runs first here, completes
    that swap on the next call for the same path.
    """
    path = Path(path)
    clean_stale(path)
    if os.path.lexists(path) and not overwrite:
        raise InputError(f"{path}: already exists (overwrite=True, or --overwrite on the command line, replaces it)")
    tag = _new_tag()
    tmp, old = (_parent(path) / f"{_prefix(path)}{tag}.{kind}" for kind in ("part", "old"))
    try:
        os.mkdir(tmp)
    except OSError as exc:
        if exc.strerror:
            exc.strerror += f" (the new directory is built in {_parent(path)})"
        raise _naming(exc, path, tmp) from None
    try:
        yield tmp
        if os.path.lexists(path):
            os.mkdir(old)
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        _remove(old)
    except BaseException as exc:
        if os.path.lexists(old / path.name) and not os.path.lexists(path):  # cut off between the renames
            os.replace(old / path.name, path)
        _remove(tmp)
        _remove(old)
        if isinstance(exc, OSError):
            raise _naming(exc, path, tmp, old, old / path.name) from None
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
