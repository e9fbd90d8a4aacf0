"""Find components by kind and id through entry points, lazily, with clear errors.

One entry-point group per kind (:data:`codecframe.abc.KINDS`); the entry-point name is the
component id. Scanning reads metadata only; a component's module is imported on first use. A
plugin that fails to import is recorded (see :meth:`Registry.failures`) and does not affect other
components. Two distributions that claim one id is an error unless :meth:`Registry.choose` (the
CLI's ``--choose kind:id=distribution``) or the environment variable ``CODECFRAME_CHOOSE`` picks
one. :meth:`Registry.register` adds classes in-process (tests, notebooks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import _entrypoints
from .abc import KINDS, Allocator, EntropyCoder, Posterior, PosteriorEstimator, Quantizer
from .errors import ConfigError, DuplicateComponentError, PluginLoadError, UnknownComponentError

__all__ = ["Registry", "Entry", "registry", "get", "create", "register", "registered", "parse_choice", "CHOOSE_ENV"]

BASES: dict[str, type] = {
    "posterior": Posterior,
    "quantizer": Quantizer,
    "allocator": Allocator,
    "entropy_coder": EntropyCoder,
    "estimator": PosteriorEstimator,
}
IN_PROCESS = "<in-process>"
#: Environment variable with duplicate-id choices: ``kind:id=distribution`` items separated by commas.
CHOOSE_ENV = "CODECFRAME_CHOOSE"
_CHOICE = re.compile(r"(?P<kind>[a-z_]+):(?P<id>[^=\s]+)=(?P<dist>[A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(distribution: str) -> str:
    """A distribution name as packaging compares them: case, ``-``, ``_`` and ``.`` runs do not matter."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def parse_choice(text: str) -> tuple[str, str, str]:
    """``"kind:id=distribution"`` as ``(kind, id, distribution)``; anything else raises ConfigError."""
    m = _CHOICE.fullmatch(text.strip())
    if not m:
        raise ConfigError(f"a choice must look like kind:id=distribution (e.g. quantizer:deadzone=my-plugin), got {text!r}")
    _check_kind(m["kind"])
    return m["kind"], m["id"], m["dist"]


def _env_choices() -> dict[tuple[str, str], str]:
    choices = {}
    for item in os.environ.get(CHOOSE_ENV, "").split(","):
        if item.strip():
            try:
                kind, cid, dist = parse_choice(item)
            except ConfigError as exc:
                raise ConfigError(f"${CHOOSE_ENV}: {exc}") from None
            choices[(kind, cid)] = dist
    return choices


@dataclasses.dataclass
class Entry:
    """One candidate for (kind, id): an entry point (loaded lazily) or an in-process class."""

    kind: str
    id: str
    distribution: str
    dist_version: str
    source: _entrypoints.EntryPointInfo | None = None
    cls: type | None = None
    error: str | None = None

    @property
    def value(self) -> str:
        return self.source.value if self.source else f"{self.cls.__module__}:{self.cls.__qualname__}"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")


class Registry:
    """Component lookup over entry points plus in-process registrations."""

    def __init__(self, path: list[str] | None = None) -> None:
        self._path = path
        self._scanned: dict[str, dict[str, list[Entry]]] | None = None
        self._local: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._choices: dict[tuple[str, str], str] = {}

    # ------------------------------------------------------------------ scanning
    def refresh(self) -> None:
        """Forget the scan (e.g. after installing a plugin); the next lookup rescans."""
        self._scanned = None

    def _entries(self, kind: str) -> dict[str, list[Entry]]:
        if self._scanned is None:
            scanned: dict[str, dict[str, list[Entry]]] = {}
            for k, group in KINDS.items():
                table: dict[str, list[Entry]] = {}
                for ep in _entrypoints.scan(group, self._path):
                    table.setdefault(ep.name, []).append(Entry(k, ep.name, ep.distribution, ep.version, source=ep))
                scanned[k] = table
            self._scanned = scanned
        merged = {i: list(v) for i, v in self._scanned[kind].items()}
        for cid, entry in self._local[kind].items():
            merged[cid] = [entry]  # in-process registration shadows installed entries
        return merged

    def ids(self, kind: str) -> list[str]:
        _check_kind(kind)
        return sorted(self._entries(kind))

    # ------------------------------------------------------------------ lookup
    def _load(self, entry: Entry) -> type:
        if entry.cls is not None:
            return entry.cls
        assert entry.source is not None
        where = f"{entry.kind} {entry.id!r} from {entry.distribution} {entry.dist_version} ({entry.value})"
        try:
            obj = entry.source.load()
        except Exception as exc:  # any import-time failure of a plugin is isolated here
            entry.error = f"{type(exc).__name__}: {exc}"
            raise PluginLoadError(f"cannot load {where}: {entry.error}") from exc
        base = BASES[entry.kind]
        if not (isinstance(obj, type) and issubclass(obj, base)):
            entry.error = f"{entry.value} is not a subclass of {base.__name__}"
            raise PluginLoadError(f"cannot load {where}: {entry.error}")
        if getattr(obj, "id", None) != entry.id:
            entry.error = f"class id {getattr(obj, 'id', None)!r} differs from entry-point name {entry.id!r}"
            raise PluginLoadError(f"cannot load {where}: {entry.error}")
        entry.cls = obj
        return obj

    def entry(self, kind: str, cid: str, *, hint: Mapping[str, str] | None = None) -> Entry:
        """The single entry for (kind, id). ``hint`` (distribution, version) improves missing-id messages."""
        _check_kind(kind)
        table = self._entries(kind)
        candidates = table.get(cid, [])
        if not candidates:
            msg = f"no {kind} with id {cid!r} is installed"
            close = difflib.get_close_matches(cid, list(table), n=3)
            if close:
                msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
            if hint and hint.get("distribution"):
                dist = hint["distribution"]
                ver = hint.get("version", "")
                msg += f"; the file names it from distribution {dist} {ver}".rstrip() + f": pip install {dist}"
            raise UnknownComponentError(msg)
        if len(candidates) > 1:
            chosen = self._chosen(kind, cid)
            picked = [c for c in candidates if chosen is not None and _norm(c.distribution) == _norm(chosen)]
            if not picked:
                dists = ", ".join(f"{c.distribution} ({c.value})" for c in candidates)
                asked = f" ({chosen!r}, the chosen distribution, provides none of them)" if chosen else ""
                raise DuplicateComponentError(
                    f"{kind} id {cid!r} is registered by several distributions: {dists}{asked}; choose one with "
                    f"registry.choose({kind!r}, {cid!r}, distribution), the CLI option --choose {kind}:{cid}=DISTRIBUTION "
                    f"or ${CHOOSE_ENV}"
                )
            return picked[0]
        return candidates[0]

    def get(self, kind: str, cid: str, *, hint: Mapping[str, str] | None = None) -> type:
        """The component class for (kind, id), importing its module on first use."""
        return self._load(self.entry(kind, cid, hint=hint))

    def create(self, kind: str, config: Mapping[str, Any] | str, *, hint: Mapping[str, str] | None = None) -> Any:
        """An instance from a config dict (or a bare id string for the default config)."""
        if isinstance(config, str):
            config = {"id": config}
        if not isinstance(config, Mapping) or not isinstance(config.get("id"), str):
            raise ConfigError(f"{kind} config must be an object with a string 'id', got {config!r}")
        return self.get(kind, config["id"], hint=hint).from_config(config)

    def choose(self, kind: str, cid: str, distribution: str) -> None:
        """Resolve a duplicate id in favour of ``distribution`` (takes precedence over ``CODECFRAME_CHOOSE``)."""
        _check_kind(kind)
        self._choices[(kind, cid)] = distribution

    def _chosen(self, kind: str, cid: str) -> str | None:
        """The distribution chosen for a duplicate (kind, id): by :meth:`choose`, else by ``CODECFRAME_CHOOSE``."""
        return self._choices.get((kind, cid)) or _env_choices().get((kind, cid))

    def choose_all(self, choices: Iterable[str]) -> None:
        """:meth:`choose` for each ``"kind:id=distribution"`` string (the CLI's ``--choose``)."""
        for text in choices:
            self.choose(*parse_choice(text))

    # ------------------------------------------------------------------ in-process
    def register(self, cls: type, *, replace: bool = False) -> type:
        """Register a component class under ``cls.kind``/``cls.id`` in this process."""
        kind = getattr(cls, "kind", None)
        if kind not in BASES or not issubclass(cls, BASES[kind]):
            raise ConfigError(f"{cls!r} is not a component class (subclass one of the codecframe.abc bases)")
        cid = getattr(cls, "id", None)
        if not isinstance(cid, str) or not cid:
            raise ConfigError(f"{cls.__qualname__} has no string class attribute 'id'")
        if not replace and cid in self._entries(kind):
            raise DuplicateComponentError(f"{kind} id {cid!r} is already registered; pass replace=True to shadow it")
        self._local[kind][cid] = Entry(kind, cid, IN_PROCESS, "", cls=cls)
        return cls

    def unregister(self, kind: str, cid: str) -> None:
        _check_kind(kind)
        self._local[kind].pop(cid, None)

    @contextlib.contextmanager
    def registered(self, *classes: type, replace: bool = False) -> Iterator[None]:
        """Temporarily register ``classes`` (for tests)."""
        added = []
        try:
            for cls in classes:
                self.register(cls, replace=replace)
                added.append(cls)
            yield
        finally:
            for cls in added:
                self.unregister(cls.kind, cls.id)

    # ------------------------------------------------------------------ listing
    def listing(self) -> list[dict[str, Any]]:
        """Every known component with its version and distribution, loading each to report failures.

        ``status`` is "ok", "error" (the plugin fails to load), "duplicate" (another distribution
        provides the id too) or "chosen" (the duplicate that a choice selects).
        """
        rows = []
        for kind in KINDS:
            for cid, candidates in sorted(self._entries(kind).items()):
                for entry in candidates:
                    row: dict[str, Any] = {
                        "kind": kind,
                        "id": cid,
                        "distribution": entry.distribution,
                        "dist_version": entry.dist_version,
                        "target": entry.value,
                    }
                    try:
                        row["version"] = self._load(entry).version
                        row["status"] = "ok"
                        if len(candidates) > 1:
                            chosen = self._chosen(kind, cid)
                            picked = chosen is not None and _norm(entry.distribution) == _norm(chosen)
                            row["status"] = "chosen" if picked else "duplicate"
                    except PluginLoadError:
                        row["version"] = None
                        row["status"] = "error"
                        row["error"] = entry.error
                    rows.append(row)
        return rows

    def failures(self) -> list[dict[str, Any]]:
        """Components whose plugin failed to load, with the error."""
        return [r for r in self.listing() if r["status"] == "error"]

    def provenance(self, component: Any) -> dict[str, str]:
        """``{"distribution", "version"}`` that provides ``component`` (for container headers)."""
        try:
            entry = self.entry(component.kind, component.id)
        except (UnknownComponentError, DuplicateComponentError):
            return {"distribution": IN_PROCESS, "version": ""}
        return {"distribution": entry.distribution, "version": entry.dist_version}


def load_group(group: str, path: list[str] | None = None) -> tuple[list[tuple[_entrypoints.EntryPointInfo, Any]], list[tuple[_entrypoints.EntryPointInfo, str]]]:
    """Load every entry point of a non-component group (commands, assets, demos).

    Returns ``(loaded, failed)``; a failing entry is reported, never raised.
    """
    loaded, failed = [], []
    for ep in _entrypoints.scan(group, path):
        try:
            loaded.append((ep, ep.load()))
        except Exception as exc:  # isolate broken plugins
            failed.append((ep, f"{type(exc).__name__}: {exc}"))
    return loaded, failed


#: The process-wide registry.
registry = Registry()
get = registry.get
create = registry.create
register = registry.register
registered = registry.registered
