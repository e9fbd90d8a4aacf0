"""One array chunk <-> one self-contained codecframe container, shared by the numcodecs and zarr codecs.

The codec config is JSON: the pipeline config (roles ``quantizer``, ``posterior``, ``allocator``,
``entropy_coder``) plus ``format`` (the chunk layout version below) and the array options ``std``,
``std_rel`` and ``max_group_elements``. Keys that hold their default are left out, so a config
written today stays readable when a later release adds options. ``provenance`` names the plugin
distribution of every role not provided by codecframe itself, so a reader that lacks one is told
what to install.

Chunk layout, format 1: a container v1 (``specs/bitstream.md``) whose ``meta["array"]`` is
``{"format": 1, "layout": ..., "dtype": <numpy dtype str>, "shape": [...], "block_rows": R}``.
The chunk is cut along its first axis into blocks of ``R`` rows (the last may be shorter; a 0-d
or empty chunk is one block), ``R`` chosen so a block holds at most ``max_group_elements`` values
(default 2^20; null: one block) but at least one row. Blocks bound the coder's working memory.

- ``layout "plain"``: a real array ``x`` (float16/32/64, or int/uint up to 32 bits); block ``i`` is
  the group ``"data/i"`` with posterior ``N(x, std²)`` (``std`` from the config, default 1.0).
  Decoding returns the reconstruction in the original dtype (integers rounded half to even and
  clipped to the dtype's range) and shape.
- ``layout "mean_std"``: an uncertainty-aware array is a structured array with exactly the fields
  ``mean`` and ``std`` (in that order, one float dtype, no padding). Block ``i`` is the groups
  ``"mean/i"`` under ``N(mean, std²)`` and ``"std/i"`` under ``N(std, (std_rel·std)²)``. Decoding
  returns the same structured dtype holding both reconstructions.

A chunk written at a known place of its array (by ``codecframe.dask.to_zarr``) also records that
place, its index in the chunk grid, as ``meta["chunk"] = {"index": [i, j, ...]}``; a reader that
knows which chunk it asked for passes ``index`` to :meth:`ArrayCodec.decode`, which then refuses a
chunk recorded elsewhere. The key sits beside ``meta["array"]``, so readers that predate it
decode such chunks unchanged, and chunks without it decode as before.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import container
from ..abc import Posterior
from ..canonical import pack
from ..config import check_json, config_to_dict
from ..errors import (AssetError, CodecframeError, ConfigError, FormatError, IncompatibleError, InputError,
                      LimitError, VersionError)
from ..pipeline import DEFAULTS, MAX_ELEMENTS, ROLES, Pipeline, decode
from ..registry import IN_PROCESS, Registry, registry as default_registry

__all__ = ["ArrayCodec", "FORMAT", "CODEC_ID", "MAX_GROUP_ELEMENTS", "normalize_config", "chunk_layout", "mean_std_dtype"]

#: Version of the chunk layout this module writes (and the newest it reads).
FORMAT = 1
#: Codec id under ``numcodecs.codecs`` and name under ``zarr.codecs``.
CODEC_ID = "codecframe"
OPTIONS: dict[str, float] = {"std": 1.0, "std_rel": 0.25}
#: Default largest number of values in one group (one block of a field).
MAX_GROUP_ELEMENTS = 1 << 20
CONFIG_KEYS = frozenset({*ROLES, *OPTIONS, "max_group_elements", "format", "provenance"})
FIELDS = {"plain": ("data",), "mean_std": ("mean", "std")}
CORE_DISTRIBUTION = "codecframe"
PLAIN_KINDS = {"f": (2, 4, 8), "i": (1, 2, 4), "u": (1, 2, 4)}
_PIPELINE_CACHE = 8


def _install_hint(hint: Mapping[str, str] | None) -> str:
    if hint and hint.get("distribution"):
        dist, ver = hint["distribution"], hint.get("version", "")
        return f"pip install '{dist}>={ver}'" if ver else f"pip install {dist}"
    return f"pip install -U {CORE_DISTRIBUTION}"


def _json(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _option_defaults(cls: type) -> dict[str, Any]:
    """JSON defaults of the fields of a component's Config dataclass (fields without one are absent)."""
    out = {}
    for f in dataclasses.fields(cls.Config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = _json(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = _json(f.default_factory())
    return out


def _minimal_role(role: str, cfg: Any, reg: Registry, hint: Mapping[str, str] | None) -> tuple[dict[str, Any], type]:
    """Validate one role's config against the installed component; return it without default options."""
    if isinstance(cfg, str):
        cfg = {"id": cfg}
    if not isinstance(cfg, Mapping) or not isinstance(cfg.get("id"), str):
        raise ConfigError(f"codec config '{role}' must be an id string or an object with a string 'id', got {cfg!r}")
    try:
        cls = reg.get(role, cfg["id"], hint=hint)
        parsed = cls.parse_config(cfg)
    except VersionError as exc:
        raise VersionError(f"{exc} ({_install_hint(hint)})") from None
    options = config_to_dict(parsed)
    defaults = _option_defaults(cls)
    kept = {k: v for k, v in options.items() if k not in defaults or defaults[k] != v}
    return {"id": cls.id, "version": cls.version, **kept}, cls


def normalize_config(config: Mapping[str, Any], reg: Registry | None = None) -> dict[str, Any]:
    """The canonical JSON codec config: validated, default-valued keys left out, provenance added.

    Checks the format version and every component's id and config version against this
    installation (importing component classes, but building nothing and loading no asset).
    """
    reg = reg or default_registry
    if not isinstance(config, Mapping):
        raise ConfigError(f"codec config must be an object, got {type(config).__name__}")
    check_json(dict(config), "codec config")
    unknown = set(config) - CONFIG_KEYS - {"id"}
    if unknown:
        raise ConfigError(f"codec config: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(CONFIG_KEYS))}")
    if config.get("id", CODEC_ID) != CODEC_ID:
        raise ConfigError(f"codec config is for codec {config['id']!r}, not {CODEC_ID!r}")
    fmt = config.get("format", FORMAT)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise ConfigError(f"codec config: format must be a positive integer, got {fmt!r}")
    if fmt > FORMAT:
        raise VersionError(
            f"codec config: chunk format {fmt} is newer than this codecframe supports (format {FORMAT}); "
            f"pip install -U {CORE_DISTRIBUTION}"
        )
    provenance = config.get("provenance", {})
    if not isinstance(provenance, Mapping) or not all(
        r in ROLES and isinstance(p, Mapping) and set(p) <= {"distribution", "version"} for r, p in provenance.items()
    ):
        raise ConfigError("codec config: provenance must map roles to {'distribution', 'version'}")
    if "quantizer" not in config:
        raise ConfigError("codec config: 'quantizer' is required")
    out: dict[str, Any] = {}
    written: dict[str, Any] = {}
    for role in ROLES:
        hint = provenance.get(role)
        cfg, cls = _minimal_role(role, config.get(role, DEFAULTS.get(role)), reg, hint)
        if role == "quantizer" or cfg != {"id": DEFAULTS[role], "version": cls.version}:
            out[role] = cfg
        source = dict(hint) if hint else reg.provenance(cls)
        if source.get("distribution") not in (CORE_DISTRIBUTION, IN_PROCESS):
            written[role] = source
    for key, default in OPTIONS.items():
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"codec config: {key} must be a number > 0, got {value!r}")
        if float(value) != default:
            out[key] = float(value)
    block = config.get("max_group_elements", MAX_GROUP_ELEMENTS)
    if block is not None and (isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= MAX_ELEMENTS):
        raise ConfigError(f"codec config: max_group_elements must be null or an integer in [1, {MAX_ELEMENTS}], got {block!r}")
    if block != MAX_GROUP_ELEMENTS:
        out["max_group_elements"] = block
    if fmt != FORMAT:
        out["format"] = fmt
    if written:
        out["provenance"] = written
    return out


def chunk_layout(dtype: np.dtype) -> tuple[str, np.dtype]:
    """``("plain" | "mean_std", value dtype)`` for a chunk dtype; InputError for any other dtype."""
    if dtype.names is None:
        if dtype.kind in PLAIN_KINDS and dtype.itemsize in PLAIN_KINDS[dtype.kind]:
            return "plain", dtype
        raise InputError(
            f"codecframe codec: dtype {dtype} is not supported; use float16/32/64, (u)int8/16/32, "
            "or a structured dtype with float fields 'mean' and 'std'"
        )
    if dtype.names != ("mean", "std"):
        raise InputError(f"codecframe codec: a structured dtype needs exactly the fields ('mean', 'std'), got {dtype.names}")
    field = dtype.fields["mean"][0]
    if field.kind != "f" or dtype.fields["std"][0] != field or dtype.itemsize != 2 * field.itemsize:
        raise InputError(f"codecframe codec: fields 'mean' and 'std' must share one float dtype without padding, got {dtype}")
    return "mean_std", field


def mean_std_dtype(field: np.dtype) -> np.dtype:
    """The structured dtype of an uncertainty-aware chunk whose fields have dtype ``field``."""
    return np.dtype([("mean", field), ("std", field)])


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Reconstruction -> the chunk's dtype (integers: round half to even, clip to the range)."""
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values.astype(np.float64)), info.min, info.max).astype(dtype)


class ArrayCodec:
    """Encode one array chunk to container bytes and back with a lazily built pipeline.

    Construction validates the config against the installed components; the pipeline (and any
    asset it loads) is built on the first ``encode`` or ``decode``. Instances pickle as their
    config, so they travel to dask workers cheaply; the worker builds its own pipeline.
    """

    def __init__(self, config: Mapping[str, Any], *, registry: Registry | None = None) -> None:
        self._registry = registry
        self.config = normalize_config(config, registry)
        self._lock = threading.Lock()
        self._pipelines: dict[bytes, Pipeline] = {}
        self._encoder: Pipeline | None = None

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        if self._registry is not None:
            raise ConfigError("an ArrayCodec bound to a private registry cannot be pickled; use the default registry")
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayCodec) and other.config == self.config

    def __hash__(self) -> int:
        return hash(pack(self.config))

    def __repr__(self) -> str:
        return f"ArrayCodec({self.config!r})"

    # ------------------------------------------------------------------ pipelines
    @property
    def registry(self) -> Registry:
        return self._registry or default_registry

    def pipeline(self) -> Pipeline:
        """The encoding pipeline of this config (built once, on first use)."""
        with self._lock:
            if self._encoder is None:
                cfg = {r: self.config[r] for r in ROLES if r in self.config}
                pipe = Pipeline.from_config(cfg, registry=self.registry)
                fields = tuple(pipe.posterior_cls.fields)
                if fields != ("mean", "std"):
                    raise IncompatibleError(
                        f"the array codec builds posteriors from mean and std arrays, but {pipe.posterior_cls.describe()} "
                        f"takes {', '.join(fields) or 'no arrays'}"
                    )
                self._encoder = pipe
                self._pipelines[pack(pipe.get_config())] = pipe
            return self._encoder

    def _decoder(self, header: Mapping[str, Any]) -> Pipeline:
        """A pipeline for a chunk's header config (cached), naming the distribution to install if absent."""
        config = header.get("pipeline")
        if not isinstance(config, dict) or set(config) != set(ROLES) or not all(isinstance(config[r], dict) for r in ROLES):
            raise FormatError(f"chunk header 'pipeline' must map each of {', '.join(ROLES)} to a config")
        key = pack(config)
        with self._lock:
            pipe = self._pipelines.get(key)
        if pipe is not None:
            return pipe
        provenance = header.get("provenance") if isinstance(header.get("provenance"), dict) else {}
        for role in ROLES:
            cid = config[role].get("id")
            if not isinstance(cid, str):
                raise FormatError(f"chunk header pipeline.{role} has no string id")
            hint = provenance.get(role) if isinstance(provenance.get(role), dict) else None
            try:
                self.registry.get(role, cid, hint=hint).parse_config(config[role])
            except VersionError as exc:
                raise VersionError(f"{exc} ({_install_hint(hint)})") from None
        pipe = Pipeline(**config, registry=self.registry)
        with self._lock:
            if len(self._pipelines) >= _PIPELINE_CACHE:
                self._pipelines.pop(next(iter(self._pipelines)))
            self._pipelines[key] = pipe
        return pipe

    # ------------------------------------------------------------------ chunks
    def block_rows(self, shape: tuple[int, ...]) -> int:
        """Rows of the first axis per group for a chunk of ``shape`` (see the module docstring)."""
        limit = self.config.get("max_group_elements", MAX_GROUP_ELEMENTS)
        if not shape:
            return 1
        row = math.prod(shape[1:])
        if limit is None or row == 0:
            return max(shape[0], 1)
        return max(1, min(shape[0], limit // row))

    def groups(self, chunk: np.ndarray, posterior_cls: type[Posterior]) -> tuple[dict[str, Any], dict[str, Posterior]]:
        """``meta["array"]`` and the posteriors of one chunk (views of it; a plain chunk's ``std`` is broadcast)."""
        layout, field = chunk_layout(chunk.dtype)
        rows = self.block_rows(chunk.shape)
        if _block_count(chunk.shape, rows) * len(FIELDS[layout]) > container.MAX_STREAMS:
            raise InputError(f"codecframe codec: a chunk of shape {chunk.shape} makes more than {container.MAX_STREAMS} "
                             "groups; raise max_group_elements")
        meta = {"format": FORMAT, "layout": layout, "dtype": field.str, "shape": list(chunk.shape), "block_rows": rows}
        groups: dict[str, Posterior] = {}
        for i, part in enumerate(_blocks(chunk, rows)):
            if layout == "plain":
                native = part.dtype.kind == "f" and part.dtype.isnative and part.itemsize >= 4
                x = part if native else part.astype(np.float64)
                std = np.broadcast_to(np.asarray(self.config.get("std", OPTIONS["std"]), x.dtype), x.shape)
                groups[f"data/{i}"] = posterior_cls(mean=x, std=std)
            else:
                mean, std = part["mean"], part["std"]
                rel = float(self.config.get("std_rel", OPTIONS["std_rel"]))
                groups[f"mean/{i}"] = posterior_cls(mean=mean, std=std)
                groups[f"std/{i}"] = posterior_cls(mean=std, std=std * rel)
        return meta, groups

    def encode(self, chunk: Any, *, index: Sequence[int] | None = None) -> bytes:
        """A container holding one chunk (any supported dtype and shape, see the module docstring);
        ``index``, the chunk's place in its array's chunk grid, is recorded when given."""
        if isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InputError(
                "codecframe codec needs a typed array, got raw bytes; use it as the zarr v2 compressor or the "
                "zarr v3 serializer, not after a filter that outputs bytes"
            )
        arr = np.asarray(chunk)
        if arr.size > MAX_ELEMENTS:
            raise LimitError(f"codecframe codec: a chunk of {arr.size} elements exceeds the limit of {MAX_ELEMENTS}")
        pipe = self.pipeline()
        meta, groups = self.groups(arr, pipe.posterior_cls)
        if index is None:
            return pipe.encode(groups, {"array": meta})
        if len(index) != arr.ndim or not all(isinstance(i, (int, np.integer)) and i >= 0 for i in index):
            raise InputError(f"codecframe codec: chunk index {list(index)} does not fit a chunk of {arr.ndim} dimension(s)")
        return pipe.encode(groups, {"array": meta, "chunk": {"index": [int(i) for i in index]}})

    def decode(self, data: Any, *, shape: Sequence[int] | None = None, dtype: Any = None,
               index: Sequence[int] | None = None) -> np.ndarray:
        """The reconstruction of one chunk in its original dtype and shape.

        A reader that knows what it expects passes it: a chunk of another ``shape``, of a ``dtype``
        that differs beyond byte order, or recording another grid ``index`` is a FormatError (a
        chunk that records no index passes the index check).
        """
        if isinstance(data, np.ndarray):
            data = data.reshape(-1).view(np.uint8)
        try:
            view = memoryview(data).cast("B")
        except TypeError as exc:
            raise InputError(f"codecframe codec: cannot read {type(data).__name__} as bytes: {exc}") from None
        header = container.read(view).header
        try:
            pipe = self._decoder(header)
            # a component newer than the chunk re-reads it through upgrade_config: decode from the header
            same = pack(pipe.get_config()) == pack(header["pipeline"])
            decoded = pipe.decode(view) if same else decode(view, registry=self.registry)
        except AssetError as exc:
            provenance = header.get("provenance") if isinstance(header.get("provenance"), dict) else {}
            hints = {p["distribution"]: p for p in provenance.values()
                     if isinstance(p, dict) and p.get("distribution") not in (None, CORE_DISTRIBUTION, IN_PROCESS)}
            if not hints:
                raise
            raise AssetError(f"{exc} (written with {'; '.join(_install_hint(h) for h in hints.values())})") from None
        out = _assemble(decoded.arrays, decoded.meta)
        recorded = _recorded_index(decoded.meta)
        if shape is not None and out.shape != tuple(shape):
            raise FormatError(f"chunk of shape {list(out.shape)} where the array's chunks have shape {list(shape)}")
        if dtype is not None and not np.can_cast(out.dtype, np.dtype(dtype), "equiv"):
            raise FormatError(f"chunk of dtype {out.dtype} where the array's dtype is {np.dtype(dtype)}")
        if index is not None and recorded is not None and recorded != tuple(index):
            raise FormatError(f"chunk recorded at grid index {list(recorded)} found at {list(index)} "
                              "(copied or moved from elsewhere)")
        return out if dtype is None else out.astype(dtype, copy=False)


def _recorded_index(meta: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The grid index a chunk records in ``meta["chunk"]``, or None when it records none."""
    if "chunk" not in meta:
        return None
    info = meta["chunk"]
    index = info.get("index") if isinstance(info, dict) and set(info) == {"index"} else None
    if not isinstance(index, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in index):
        raise FormatError(f"chunk meta 'chunk' must be {{'index': [non-negative integers]}}, got {info!r}")
    return tuple(index)


def _block_count(shape: Sequence[int], rows: int) -> int:
    return 1 if not shape or shape[0] == 0 else -(-shape[0] // rows)


def _blocks(chunk: np.ndarray, rows: int) -> list[np.ndarray]:
    """Views of ``chunk`` cut along its first axis every ``rows`` rows (one block if 0-d or empty)."""
    if _block_count(chunk.shape, rows) == 1:
        return [chunk]
    return [chunk[i : i + rows] for i in range(0, chunk.shape[0], rows)]


def _assemble(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> np.ndarray:
    """Check a chunk's ``meta["array"]`` and build the output array from the decoded groups."""
    info = meta.get("array")
    if not isinstance(info, dict) or set(info) != {"format", "layout", "dtype", "shape", "block_rows"}:
        raise FormatError("container is not an array chunk: meta['array'] with format, layout, dtype, shape, block_rows is missing")
    fmt = info["format"]
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise FormatError(f"chunk format must be a positive integer, got {fmt!r}")
    if fmt > FORMAT:
        raise VersionError(f"chunk format {fmt} is newer than this codecframe supports (format {FORMAT}); pip install -U {CORE_DISTRIBUTION}")
    shape, rows, layout = info["shape"], info["block_rows"], info["layout"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise FormatError(f"chunk shape must be a list of non-negative integers, got {shape!r}")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise FormatError(f"chunk block_rows must be a positive integer, got {rows!r}")
    try:
        dtype = np.dtype(info["dtype"]) if isinstance(info["dtype"], str) else None
        if dtype is not None:
            chunk_layout(dtype) if layout == "plain" else chunk_layout(mean_std_dtype(dtype))
    except (TypeError, CodecframeError):
        dtype = None
    fields = FIELDS.get(layout)
    if dtype is None or fields is None:
        raise FormatError(f"chunk meta names layout {layout!r} and dtype {info['dtype']!r}, which this reader cannot build")
    count = _block_count(shape, rows)
    names = [f"{f}/{i}" for i in range(count) for f in fields] if count * len(fields) == len(arrays) else None
    if names is None or sorted(arrays) != sorted(names):
        raise FormatError(f"chunk of shape {shape} in blocks of {rows} rows needs {count * len(fields)} groups "
                          f"named FIELD/i for {', '.join(fields)}; the container has {sorted(arrays)[:8]}")
    size = math.prod(shape)
    if size * len(fields) != sum(a.size for a in arrays.values()):
        raise FormatError(f"chunk shape {shape} does not match the {sum(a.size for a in arrays.values())} decoded values")
    out = np.empty(shape, dtype if layout == "plain" else mean_std_dtype(dtype))
    parts = _blocks(out, rows)
    for i, part in enumerate(parts):
        for f in fields:
            values = arrays[f"{f}/{i}"]
            if values.size != part.size:
                raise FormatError(f"chunk group '{f}/{i}' has {values.size} values where its block needs {part.size}")
            target = part if layout == "plain" else part[f]
            target[...] = _cast(values, dtype).reshape(target.shape)
    return out
