"""A compressor assembled from one component of each kind, writing and reading container v1."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import container
from .abc import Allocator, EntropyCoder, Posterior, Quantizer
from .canonical import DTYPE_CODES
from .config import Component
from .errors import ConfigError, EncodeError, FormatError, IncompatibleError, InputError, LimitError, VersionError
from .guard import guarded
from .registry import Registry, registry as default_registry
from .types import AllocationGroup, Quantized, RateOption

__all__ = ["Pipeline", "Decoded", "decode", "load_config", "check_max_elements", "check_header", "MAX_ELEMENTS", "Progress"]

#: Largest element (and symbol) count of one group or extra array: 2^28, i.e. 1 GiB of int32 symbols.
MAX_ELEMENTS = 1 << 28
MAX_NDIM = 32
ROLES = ("posterior", "quantizer", "allocator", "entropy_coder")
#: The roles a decoder needs; the others are recorded for provenance only.
DECODE_ROLES = ("quantizer", "entropy_coder")
HEADER_KEYS = {"pipeline", "provenance", "groups", "extras", "meta", "streams", "optional"}
DEFAULTS = {"posterior": "gaussian", "allocator": "fixed", "entropy_coder": "range"}

#: ``progress(stage, done, total)`` callback for long work.
Progress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class Decoded:
    """What :func:`decode` returns: reconstructions by group, application meta, raw extras, the header."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    extras: dict[str, np.ndarray]
    header: dict[str, Any]


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_NDIM:
        raise FormatError(f"{where}: shape must be a list of at most {MAX_NDIM} integers")
    size = 1
    for n in value:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_ELEMENTS:
            raise FormatError(f"{where}: shape entries must be integers in [0, {MAX_ELEMENTS}], got {value!r}")
        size *= n
        if size > MAX_ELEMENTS:
            raise LimitError(f"{where}: shape {value} has more than {MAX_ELEMENTS} elements")
    return tuple(value)


def _dtype(value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in DTYPE_CODES:
        raise FormatError(f"{where}: dtype {value!r} is not one of {', '.join(DTYPE_CODES)}")
    return value


def load_config(source: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    """A config from a mapping, JSON text, or a .json/.toml file (a JSON object either way)."""
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    if isinstance(source, Path) or (isinstance(source, str) and path.suffix in (".json", ".toml") and path.exists()):
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read pipeline config {path}: {exc}") from None
        if path.suffix == ".toml":
            try:
                return tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        source = text
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"pipeline config is neither a readable .json/.toml file nor JSON text: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError("pipeline config must be an object")
    return data


class Pipeline:
    """Posterior family + Allocator + Quantizer + EntropyCoder.

    Each part is given as an instance, a config dict or an id string; the posterior is given by
    config or id (its class is what ``encode`` accepts). Incompatible parts raise
    :class:`IncompatibleError` here, not during encoding.
    """

    def __init__(
        self,
        posterior: Mapping[str, Any] | str = DEFAULTS["posterior"],
        quantizer: Quantizer | Mapping[str, Any] | str = "uniform",
        allocator: Allocator | Mapping[str, Any] | str = DEFAULTS["allocator"],
        entropy_coder: EntropyCoder | Mapping[str, Any] | str = DEFAULTS["entropy_coder"],
        *,
        registry: Registry | None = None,
    ) -> None:
        self.registry = registry or default_registry
        pcfg = {"id": posterior} if isinstance(posterior, str) else dict(posterior)
        self.posterior_cls: type[Posterior] = self.registry.get("posterior", str(pcfg.get("id")))
        self.posterior_config = {"id": self.posterior_cls.id, "version": self.posterior_cls.version,
                                 **{k: v for k, v in pcfg.items() if k not in ("id", "version")}}
        self.posterior_cls.parse_config(self.posterior_config)
        self.quantizer: Quantizer = self._part("quantizer", quantizer, Quantizer)
        self.allocator: Allocator = self._part("allocator", allocator, Allocator)
        self.entropy_coder: EntropyCoder = self._part("entropy_coder", entropy_coder, EntropyCoder)
        self._check_compatible()

    def _part(self, kind: str, value: Any, base: type) -> Any:
        if isinstance(value, base):
            return value
        if isinstance(value, Component):
            raise IncompatibleError(f"{value.describe()} was given as the {kind}")
        cid = value if isinstance(value, str) else value.get("id") if isinstance(value, Mapping) else None
        with guarded(f"{kind.replace('_', ' ')} {cid!r}", action="construction",
                     distribution=_installed_distribution(self.registry, kind, cid) if isinstance(cid, str) else ""):
            return self.registry.create(kind, value)

    def _check_compatible(self) -> None:
        q, p, c = self.quantizer, self.posterior_cls, self.entropy_coder
        missing = [r.__name__ for r in q.requires if not issubclass(p, r)]
        if missing:
            raise IncompatibleError(
                f"{q.describe()} needs a posterior with {', '.join(missing)}, "
                f"but {p.describe()} does not provide it"
            )
        kinds = set(q.model_kinds) - set(c.model_kinds)
        if kinds:
            raise IncompatibleError(
                f"{q.describe()} produces {', '.join(sorted(kinds))} models, which {c.describe()} cannot code"
            )

    # ------------------------------------------------------------------ configs
    @classmethod
    def from_config(cls, config: Mapping[str, Any] | str | Path, *, registry: Registry | None = None) -> Pipeline:
        """Build from a dict, JSON text, or a .json/.toml file naming one component of each kind."""
        data = dict(load_config(config))
        unknown = set(data) - set(ROLES)
        if unknown:
            raise ConfigError(f"pipeline config: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(ROLES)}")
        if "quantizer" not in data:
            raise ConfigError("pipeline config: 'quantizer' is required")
        return cls(**{role: data.get(role, DEFAULTS.get(role)) for role in ROLES}, registry=registry)

    def get_config(self) -> dict[str, Any]:
        return {
            "posterior": dict(self.posterior_config),
            "quantizer": self.quantizer.get_config(),
            "allocator": self.allocator.get_config(),
            "entropy_coder": self.entropy_coder.get_config(),
        }

    # ------------------------------------------------------------------ encode
    def encode(
        self,
        groups: Mapping[str, Posterior],
        meta: Mapping[str, Any] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
        progress: Progress | None = None,
    ) -> bytes:
        """Quantize and entropy-code every group; return container bytes."""
        if not isinstance(groups, Mapping) or not groups:
            raise InputError("encode needs a non-empty mapping of group name -> posterior")
        for name, post in groups.items():
            if not isinstance(name, str) or not name:
                raise InputError(f"group names must be non-empty strings, got {name!r}")
            if not isinstance(post, self.posterior_cls):
                raise InputError(
                    f"group {name!r}: expected a {self.posterior_cls.describe()} instance, got {type(post).__name__}"
                )
            if post.size > MAX_ELEMENTS:
                raise LimitError(f"group {name!r} has more than {MAX_ELEMENTS} elements")
        if sum(post.size for post in groups.values()) > MAX_ELEMENTS:
            raise LimitError(f"the groups hold more than {MAX_ELEMENTS} elements together; split them across files")
        q, coder = self.quantizer, self.entropy_coder
        names = list(groups)
        total = len(names)
        alloc_groups = []
        for i, name in enumerate(names):
            post = groups[name]
            options: tuple = ()
            if self.allocator.needs_estimates:
                options = self._feasible_options(name, post)
            with guarded(q, action="default_setting", registry=self.registry):
                default = q.default_setting()
            alloc_groups.append(AllocationGroup(name, post.size, default, options))
            if progress and self.allocator.needs_estimates:
                progress("estimate", i + 1, total)
        with guarded(self.allocator, action="allocate", registry=self.registry):
            settings = self.allocator.allocate(alloc_groups)
        if len(settings) != total:
            raise IncompatibleError(f"{self.allocator.describe()} returned {len(settings)} settings for {total} groups")
        records, streams = [], []
        for i, (name, setting) in enumerate(zip(names, settings)):
            with guarded(q, group=name, action="quantize", registry=self.registry):
                quantized = q.quantize(groups[name], setting)
                expected = q.symbol_count(quantized)
                model, indexes = q.symbol_model(quantized, coder.precision)
            if quantized.symbols.size != expected:
                raise IncompatibleError(
                    f"{q.describe()} produced {quantized.symbols.size} symbols for group {name!r} "
                    f"but its symbol_count says {expected}"
                )
            with guarded(coder, group=name, action="encode", registry=self.registry):
                streams.append(coder.encode(quantized.symbols, model, indexes))
            records.append({
                "name": name,
                "shape": list(quantized.shape),
                "dtype": quantized.dtype,
                "setting": dict(quantized.setting),
                "side": dict(quantized.side),
                "count": int(quantized.symbols.size),
            })
            if progress:
                progress("encode", i + 1, total)
        extra_records = []
        for name, arr in (extras or {}).items():
            arr = np.asarray(arr)
            if not isinstance(name, str) or arr.dtype.name not in DTYPE_CODES:
                raise InputError(f"extra {name!r}: needs a string name and a dtype in {', '.join(DTYPE_CODES)}")
            extra_records.append({"name": name, "shape": list(arr.shape), "dtype": arr.dtype.name})
            streams.append(np.ascontiguousarray(arr, arr.dtype.newbyteorder("<")).tobytes())
        header = {
            "pipeline": self.get_config(),
            "provenance": {
                "posterior": self.registry.provenance(self.posterior_cls),
                "quantizer": self.registry.provenance(q),
                "allocator": self.registry.provenance(self.allocator),
                "entropy_coder": self.registry.provenance(coder),
            },
            "groups": records,
            "extras": extra_records,
            "meta": dict(meta or {}),
        }
        return container.write(header, streams)

    def _feasible_options(self, name: str, post: Posterior) -> tuple[RateOption, ...]:
        """Estimates for every candidate setting the quantizer can code at the coder's precision."""
        options, refused = [], []
        with guarded(self.quantizer, action="settings", registry=self.registry):
            settings = self.quantizer.settings()
        for setting in settings:
            try:
                with guarded(self.quantizer, group=name, action="estimate", registry=self.registry):
                    options.append(self.quantizer.estimate(post, setting, self.entropy_coder.precision))
            except (InputError, EncodeError) as exc:  # e.g. an alphabet too large for the precision
                refused.append(f"{setting}: {exc}")
        if not options:
            raise InputError(f"group {name!r}: no candidate setting can be coded; " + "; ".join(refused[:3]))
        return tuple(options)

    # ------------------------------------------------------------------ decode
    def decode(self, data: bytes, progress: Progress | None = None, *, max_elements: int = MAX_ELEMENTS) -> Decoded:
        """Decode container bytes written by a pipeline with this configuration.

        ``max_elements`` caps the values the file's groups may hold together (:class:`LimitError`
        before anything is decoded); lower it for untrusted input. It must be an integer in
        [0, MAX_ELEMENTS] (the spec's limit can only be lowered), else :class:`ConfigError`.
        """
        max_elements = check_max_elements(max_elements)
        box = container.read(data)
        config = check_header(box, max_elements)
        if config != self.get_config():
            raise ConfigError("the file was written by a different pipeline configuration; use codecframe.decode()")
        return self._decode(box, progress)

    def _decode(self, box: container.Container, progress: Progress | None) -> Decoded:
        return _decode_box(box, self.quantizer, self.entropy_coder, progress, self.registry)


def _decode_box(box: container.Container, q: Quantizer, coder: EntropyCoder, progress: Progress | None,
                registry: Registry | None = None) -> Decoded:
    """Decode every group and extra of a verified container with the given quantizer and coder."""
    header = box.header
    groups, extras = header["groups"], header.get("extras", [])
    arrays: dict[str, np.ndarray] = {}
    for i, rec in enumerate(groups):
        shape, dtype, count, name = rec["shape"], rec["dtype"], rec["count"], rec["name"]
        probe = Quantized(np.zeros(0, np.int32), rec["setting"], rec["side"], shape, dtype)
        with guarded(q, group=name, action="symbol_model", registry=registry):
            expected = q.symbol_count(probe)
            if count != expected:
                raise FormatError(f"group {name!r}: header declares {count} symbols, its shape implies {expected}")
            model, indexes = q.symbol_model(probe, coder.precision)
            if indexes is not None and len(indexes) != count:
                raise FormatError(f"group {name!r}: model index has {len(indexes)} entries for {count} symbols")
        with guarded(coder, group=name, action="decode", registry=registry):
            symbols = coder.decode(box.streams[i], model, count, indexes)
        with guarded(q, group=name, action="dequantize", registry=registry):
            values = q.dequantize(dataclasses.replace(probe, symbols=symbols))
        if not isinstance(values, np.ndarray) or values.shape != shape or values.dtype.name != dtype:
            got = f"{values.shape} {values.dtype}" if isinstance(values, np.ndarray) else type(values).__name__
            raise FormatError(f"group {name!r}: quantizer returned {got}, not {shape} {dtype}")
        arrays[rec["name"]] = values
        if progress:
            progress("decode", i + 1, len(groups))
    out_extras = {}
    for j, rec in enumerate(extras):
        raw = box.streams[len(groups) + j]
        dt = np.dtype(rec["dtype"]).newbyteorder("<")
        if len(raw) != math.prod(rec["shape"]) * dt.itemsize:
            raise FormatError(f"extra {rec['name']!r}: {len(raw)} bytes do not match shape {rec['shape']}")
        out_extras[rec["name"]] = np.frombuffer(raw, dt).astype(dt.newbyteorder("=")).reshape(rec["shape"])
    return Decoded(arrays, header.get("meta", {}), out_extras, header)


def check_header(box: container.Container, max_elements: int) -> dict[str, Any]:
    """Validate the pipeline-level header schema and the file's total size; returns the pipeline config."""
    header = box.header
    unknown = set(header) - HEADER_KEYS
    if unknown:
        raise VersionError(f"header has unknown critical field(s) {', '.join(sorted(unknown))}; a newer codecframe wrote it")
    config = header.get("pipeline")
    if not isinstance(config, dict) or set(config) != set(ROLES) or not all(isinstance(config[r], dict) for r in ROLES):
        raise FormatError(f"header 'pipeline' must map each of {', '.join(ROLES)} to a config")
    groups, extras = header.get("groups"), header.get("extras", [])
    if not isinstance(groups, list) or not isinstance(extras, list):
        raise FormatError("header 'groups' and 'extras' must be lists")
    if not isinstance(header.get("meta", {}), dict) or not isinstance(header.get("provenance", {}), dict):
        raise FormatError("header 'meta' and 'provenance' must be maps")
    if len(groups) + len(extras) != len(box.streams):
        raise FormatError(f"header lists {len(groups)} groups and {len(extras)} extras but the file has {len(box.streams)} streams")
    seen: set[str] = set()
    total = 0
    for i, rec in enumerate(groups):
        where = f"group {i}"
        if not isinstance(rec, dict) or set(rec) != {"name", "shape", "dtype", "setting", "side", "count"}:
            raise FormatError(f"{where}: must have exactly name, shape, dtype, setting, side, count")
        if not isinstance(rec["name"], str) or rec["name"] in seen:
            raise FormatError(f"{where}: name must be a unique string")
        seen.add(rec["name"])
        rec["shape"] = _shape(rec["shape"], where)
        _dtype(rec["dtype"], where)
        if not isinstance(rec["setting"], dict) or not isinstance(rec["side"], dict):
            raise FormatError(f"{where}: setting and side must be maps")
        count = rec["count"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_ELEMENTS:
            raise FormatError(f"{where}: count must be an integer in [0, {MAX_ELEMENTS}]")
        total += max(math.prod(rec["shape"]), count)
        if total > max_elements:
            raise LimitError(f"the file's groups hold more than {max_elements} values together (limit; group {i} passes it)")
    for j, rec in enumerate(extras):
        where = f"extra {j}"
        if not isinstance(rec, dict) or set(rec) != {"name", "shape", "dtype"} or not isinstance(rec["name"], str):
            raise FormatError(f"{where}: must have exactly a string name, shape and dtype")
        rec["shape"] = _shape(rec["shape"], where)
        _dtype(rec["dtype"], where)
    return config


def decode(
    data: bytes, *, registry: Registry | None = None, progress: Progress | None = None, max_elements: int = MAX_ELEMENTS
) -> Decoded:
    """Decode any container, building its pipeline from the header through the registry.

    ``max_elements`` caps the values the file's groups may hold together (see :meth:`Pipeline.decode`).
    """
    max_elements = check_max_elements(max_elements)
    box = container.read(data)
    config = check_header(box, max_elements)
    reg = registry or default_registry
    provenance = box.header.get("provenance", {})
    parts = []
    for role in DECODE_ROLES:  # posterior and allocator are encoder-side provenance only
        cid = config[role].get("id")
        if not isinstance(cid, str):
            raise FormatError(f"header pipeline.{role} has no string id")
        hint = provenance.get(role)
        if not (isinstance(hint, dict) and all(isinstance(v, str) for v in hint.values())):
            hint = None  # provenance only improves messages; malformed provenance is ignored
        with guarded(f"{role.replace('_', ' ')} {cid!r}", action="construction",
                     distribution=(hint or {}).get("distribution") or _installed_distribution(reg, role, cid)):
            parts.append(reg.create(role, config[role], hint=hint))
    quantizer, coder = parts
    if set(quantizer.model_kinds) - set(coder.model_kinds):
        raise FormatError(f"{coder.describe()} cannot code the models of {quantizer.describe()}")
    return _decode_box(box, quantizer, coder, progress, reg)


def _installed_distribution(reg: Registry, kind: str, cid: str) -> str:
    try:
        return reg.entry(kind, cid).distribution
    except Exception:  # noqa: BLE001 - only improves a message
        return ""


def check_max_elements(value: Any) -> int:
    """A caller's ``max_elements``: an integer in [0, MAX_ELEMENTS] (spec §4 lets readers only lower the limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"max_elements must be an integer, got {value!r}")
    if not 0 <= value <= MAX_ELEMENTS:
        raise ConfigError(
            f"max_elements must be in [0, {MAX_ELEMENTS}] (2^28, the limit of container spec 1.1 §4; "
            f"a reader may only lower it), got {value}"
        )
    return int(value)
