"""The one place that talks to the ``entrypoints`` package (swap for importlib.metadata here only)."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import warnings
from typing import Any

import entrypoints

__all__ = ["EntryPointInfo", "scan"]


@dataclasses.dataclass(frozen=True)
class EntryPointInfo:
    """Metadata of one entry point; ``load()`` imports its target."""

    group: str
    name: str
    module: str
    attr: str | None
    distribution: str
    version: str

    def load(self) -> Any:
        obj: Any = importlib.import_module(self.module)
        for part in (self.attr or "").split("."):
            if part:
                obj = getattr(obj, part)
        return obj

    @property
    def value(self) -> str:
        return f"{self.module}:{self.attr}" if self.attr else self.module


def scan(group: str, path: list[str] | None = None) -> list[EntryPointInfo]:
    """All entry points of ``group`` on ``path`` (default ``sys.path``); reads metadata only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed entries are skipped by entrypoints with a warning
        found = entrypoints.get_group_all(group, path=path)
    return [
        EntryPointInfo(
            group=group,
            name=ep.name,
            module=ep.module_name,
            attr=ep.object_name,
            distribution=(ep.distro.name if ep.distro else "<unknown>").replace("_", "-"),
            version=_version(ep.distro),
        )
        for ep in found
    ]


def _version(distro: entrypoints.Distribution | None) -> str:
    """The distribution's version; an ``.egg-info`` in a source tree records none, so ask the metadata."""
    if distro is None:
        return ""
    if distro.version:
        return str(distro.version)
    try:
        return importlib.metadata.version(distro.name)
    except importlib.metadata.PackageNotFoundError:
        return ""
