"""Run a contract check in a child process with a wall-clock limit (:func:`isolated`).

The checks time the calls they make on hostile input (``HANG_SECONDS``), but only after a call
returns: a component stuck in an infinite loop hangs the check itself. :func:`isolated` runs the
check in a forked child and kills it when the limit passes, so the hang becomes a
:class:`ContractViolation`; a child that dies (a segfault in compiled code) is one too.

``fork`` is used where the platform has it, so the component class needs no import path (a class
defined inside a test works). Elsewhere the ``spawn`` start method pickles the check and its
arguments, which then must be importable. ``CODECFRAME_KIT_TIMEOUT`` (seconds) makes
:func:`codecframe.testing.suite.check` run every check this way; the pytest plugin sets it from
``--codecframe-timeout``.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable
from typing import Any

from .contracts import ContractViolation

__all__ = ["isolated", "TIMEOUT_ENV"]

#: Environment variable: a time limit in seconds for :func:`codecframe.testing.suite.check`.
TIMEOUT_ENV = "CODECFRAME_KIT_TIMEOUT"


def _child(conn: Any, check: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        check(*args, **kwargs)
        conn.send(("ok", ""))
    except ContractViolation as exc:
        conn.send(("violation", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent with its traceback
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def isolated(check: Callable[..., Any], *args: Any, timeout: float = 300.0, **kwargs: Any) -> None:
    """Run ``check(*args, **kwargs)`` in a child process; a :class:`ContractViolation` if it breaks a
    contract, raises anything else, dies, or runs longer than ``timeout`` seconds (then it is killed)."""
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, check, args, kwargs), daemon=True)
    proc.start()
    child.close()
    what = f"{getattr(check, '__name__', check)}({', '.join(getattr(a, '__name__', repr(a)) for a in args)})"
    try:
        if not parent.poll(timeout):  # poll is also true when the child died without a word (then recv fails)
            proc.kill()
            raise ContractViolation(f"{what} did not finish within {timeout:g} s (an infinite loop or a hang?)")
        try:
            status, message = parent.recv()
        except EOFError:
            proc.join()
            raise ContractViolation(f"{what}: the child process died with exit code {proc.exitcode}") from None
    finally:
        parent.close()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    if status == "violation":
        raise ContractViolation(message)
    if status == "error":
        raise ContractViolation(f"{what} raised {message}")


def timeout_from_env() -> float | None:
    """The limit ``CODECFRAME_KIT_TIMEOUT`` sets, or None (unset or empty)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{TIMEOUT_ENV} must be positive, got {raw!r}")
    return value
