"""The pipeline's boundary around component calls: foreign exceptions become :class:`PluginError`.

A component (built-in or plugin) signals bad data with codecframe errors, which pass through
unchanged (the ``lagrangian`` allocator relies on :class:`InputError` to skip a candidate). Any
other exception is a bug in the component: it is re-raised as a :class:`PluginError` that names
the component, its distribution and the group, with the original as ``__cause__``. A
``MemoryError`` becomes an :class:`OutOfMemoryError` (a :class:`LimitError`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .errors import CodecframeError, OutOfMemoryError, PluginError

__all__ = ["guarded", "out_of_memory"]


def out_of_memory(what: str) -> OutOfMemoryError:
    """The :class:`~codecframe.errors.LimitError` that stands for a ``MemoryError`` while doing ``what``."""
    return OutOfMemoryError(f"out of memory while {what}; the input is too large for this machine")


@contextlib.contextmanager
def guarded(component: Any, *, group: str | None = None, action: str = "", registry: Any = None,
            distribution: str | None = None) -> Iterator[None]:
    """Run a block that calls ``component`` (an instance, a class or a description string)."""
    try:
        yield
    except CodecframeError:
        raise
    except MemoryError as exc:
        raise out_of_memory(f"{_describe(component)} was {action or 'working'}"
                            + (f" on group {group!r}" if group is not None else "")) from exc
    except Exception as exc:
        dist = distribution if distribution is not None else _distribution(component, registry)
        where = f" on group {group!r}" if group is not None else ""
        doing = f" in {action}" if action else ""
        raise PluginError(
            f"{_describe(component)} (distribution {dist or '?'}) failed{doing}{where}: "
            f"{type(exc).__name__}: {exc}",
            component=_describe(component), distribution=dist, group=group,
        ) from exc


def _describe(component: Any) -> str:
    if isinstance(component, str):
        return component
    describe = getattr(component, "describe", None)
    try:
        return str(describe()) if callable(describe) else repr(component)
    except Exception:  # noqa: BLE001 - a broken describe() must not hide the original error
        return f"{getattr(component, 'kind', 'component')} {getattr(component, 'id', '?')!r}"


def _distribution(component: Any, registry: Any) -> str:
    if registry is None:
        from .registry import registry
    try:
        return str(registry.provenance(component)["distribution"])
    except Exception:  # noqa: BLE001 - only improves the message
        return ""
