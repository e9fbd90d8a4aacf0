"""Named sets of conformance cases: the core's own, and every plugin's through an entry point.

A plugin registers a function that returns its list of cases under the ``codecframe.conformance_cases``
entry-point group (``docs/plugin-authors.md``)::

    [project.entry-points."codecframe.conformance_cases"]
    myformat = "my_plugin.conformance_cases:cases"

The core never imports a plugin: the first-party plugins (VBQ, BayesQ, GM-VQ) use the same
mechanism as any third-party one. A corpus lists the sets it collects in its manifest
(:meth:`~codecframe.conformance.corpus.Corpus.case_sets`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from .. import _entrypoints
from ..errors import InputError, PluginLoadError
from .cases import CASES, Case, NegativeCase, PositiveCase

__all__ = ["GROUP", "CORE", "available", "load", "load_all"]

GROUP = "codecframe.conformance_cases"
#: The name of the core's own set (not an entry point: the catalogue in ``cases.py``).
CORE = "core"


def available() -> dict[str, str]:
    """``{set name: providing distribution}`` of the core set and every registered entry point."""
    found = {CORE: "codecframe"}
    for ep in _entrypoints.scan(GROUP):
        found.setdefault(ep.name, f"{ep.distribution} {ep.version}".strip())
    return found


def _check(cases: object, where: str) -> list[Case]:
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence) \
            or not all(isinstance(c, (PositiveCase, NegativeCase)) for c in cases):
        raise PluginLoadError(f"conformance cases {where}: expected a list of PositiveCase/NegativeCase")
    return list(cases)


def load(name: str) -> list[Case]:
    """The cases of set ``name`` (an entry-point name or ``core``), or of ``module:attr`` (a list, or a
    function returning one). InputError if no such set; PluginLoadError if it does not load."""
    if name == CORE:
        return list(CASES)
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            target = getattr(importlib.import_module(module), attr or "CASES")
        except (ImportError, AttributeError) as exc:
            raise InputError(f"cannot load cases {name!r}: {exc}") from None
        return _check(target() if callable(target) else target, repr(name))
    eps = [ep for ep in _entrypoints.scan(GROUP) if ep.name == name]
    if not eps:
        raise InputError(f"no conformance case set {name!r}; installed: {', '.join(sorted(available()))}")
    ep = eps[0]
    try:
        target = ep.load()
        cases = target() if callable(target) else target
    except Exception as exc:  # a plugin's import error, reported as the plugin's fault
        raise PluginLoadError(f"conformance cases {name!r} ({ep.value}, {ep.distribution}): {type(exc).__name__}: {exc}") from exc
    return _check(cases, f"{name!r} ({ep.value})")


def load_all(names: Sequence[str]) -> list[Case]:
    """The cases of several sets, in order; a case name defined twice is an InputError."""
    out: list[Case] = []
    seen: dict[str, str] = {}
    for name in names:
        for case in load(name):
            if case.name in seen:
                raise InputError(f"case {case.name!r} is defined by both {seen[case.name]!r} and {name!r}")
            seen[case.name] = name
            out.append(case)
    return out
