"""Write NEW conformance vectors from case sets (existing vectors are never regenerated), and store the
assets their headers reference."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, canonical, container
from ..assets import load_asset, parse_ref
from ..errors import AssetError, CodecframeError, ConfigError, InputError, PluginLoadError
from ..registry import Registry, registry as default_registry
from . import case_sets
from .cases import EXACT, Case, NegativeCase, PositiveCase
from .corpus import Corpus, CorpusError, sha256, symbols_sha256, values_sha256
from .decoding import decode_with_symbols

__all__ = ["generate", "drift", "Generated", "build_positive", "build_negative", "asset_references", "MAX_STORED_VALUES"]

#: Reconstructions up to this many bytes are stored as .npy next to their hash.
MAX_STORED_VALUES = 64 << 10


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")), allow_pickle=False)
    return buf.getvalue()


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def build_positive(case: PositiveCase, registry: Registry | None = None) -> dict[str, bytes]:
    """Encode ``case`` and return the vector's files.

    The encoder's own symbols and reconstructions (from ``quantize``) must equal what the decoder
    returns, so a stored vector is always a verified round trip.
    """
    pipe, groups = case.make()
    data = pipe.encode(groups, meta=case.meta, extras=case.extras)
    if case.edit:
        data = case.edit(data)
    result = decode_with_symbols(data, registry)
    header = result.decoded.header
    files: dict[str, bytes] = {"stream.cfr": data}
    records = []
    for i, rec in enumerate(header["groups"]):
        name = rec["name"]
        q = pipe.quantizer.quantize(groups[name], rec["setting"])
        values, symbols = result.decoded.arrays[name], result.symbols[name]
        if not np.array_equal(q.symbols, symbols) or pipe.quantizer.dequantize(q).tobytes() != values.tobytes():
            raise CodecframeError(f"case {case.name}: group {name!r} does not round-trip; refusing to store it")
        max_abs, rmse = case.tolerance.get(name, EXACT)
        stored = values.nbytes <= MAX_STORED_VALUES
        if stored:
            files[f"values.{i}.npy"] = _npy(values)
        records.append({
            "name": name,
            "shape": list(rec["shape"]),
            "dtype": rec["dtype"],
            "count": rec["count"],
            "setting": rec["setting"],
            "symbols_sha256": symbols_sha256(symbols),
            "values_sha256": values_sha256(values),
            "values_file": f"values.{i}.npy" if stored else None,
            "tolerance": {"max_abs": max_abs, "rmse": rmse},
        })
    provenance = header.get("provenance", {})
    files["case.json"] = _json({
        "name": case.name,
        "kind": "positive",
        "description": case.description,
        "file": "stream.cfr",
        "features": list(case.features),
        "spec_sections": list(case.spec_sections),
        "pipeline": header["pipeline"],
        "requires": sorted({p["distribution"] for p in provenance.values() if isinstance(p, dict)}),
        "groups": records,
        "extras": [{"name": n, "shape": list(a.shape), "dtype": a.dtype.name, "sha256": values_sha256(a)}
                   for n, a in result.decoded.extras.items()],
        "meta_sha256": sha256(canonical.pack(result.decoded.meta)),
        "generated_by": f"codecframe {__version__}",
    })
    return files


def build_negative(case: NegativeCase, corpus: Corpus, registry: Registry | None = None) -> dict[str, bytes]:
    """Derive ``case`` from its stored base vector; the current decoder must raise the expected class."""
    base = corpus.vector(case.base)
    data = case.mutate(base.file(base.case["file"]))
    try:
        decode_with_symbols(data, registry)
    except CodecframeError as exc:
        if case.expected_error not in (c.__name__ for c in type(exc).__mro__):
            raise CodecframeError(
                f"case {case.name}: the decoder raised {type(exc).__name__} ({exc}), not {case.expected_error}"
            ) from None
    else:
        raise CodecframeError(f"case {case.name}: the decoder accepted the file; refusing to store it")
    return {
        "stream.cfr": data,
        "case.json": _json({
            "name": case.name,
            "kind": "negative",
            "description": case.description,
            "file": "stream.cfr",
            "features": list(case.features),
            "spec_sections": list(case.spec_sections),
            "derived_from": case.base,
            "expected_error": case.expected_error,
            "generated_by": f"codecframe {__version__}",
        }),
    }


def _missing(case: PositiveCase | NegativeCase, corpus: Corpus, reg: Registry) -> str | None:
    if isinstance(case, NegativeCase):
        return None if case.base in corpus.names() else f"its base vector {case.base!r} is not in the corpus"
    absent = [f"{kind} {cid!r}" for kind, cid in case.needs if cid not in reg.ids(kind)]
    return f"needs {', '.join(absent)}" if absent else None


def asset_references(data: bytes) -> dict[str, str]:
    """``{location: "sha256:<hex>"}`` of every asset reference in a container's header (``pipeline``,
    ``meta``, group records), the location written as dotted keys (``"pipeline.quantizer.tables"``)."""
    found: dict[str, str] = {}

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{where}.{i}")
        elif isinstance(value, str) and value.startswith("sha256:"):
            try:
                parse_ref(value)
            except ConfigError:
                return
            found[where] = value

    walk({k: v for k, v in container.read(data).header.items() if k != "streams"}, "")
    return found


def _declared_assets(case: PositiveCase, data: bytes) -> dict[str, str]:
    """The asset references of ``data`` by location; CorpusError for one ``case.assets`` does not describe."""
    found = asset_references(data)
    for where, ref in found.items():
        if where not in case.assets:
            raise CorpusError(f"case {case.name}: its header references an asset at {where!r} ({ref}); "
                              "name the asset's spec section in PositiveCase.assets")
    return found


def _store_assets(case: PositiveCase, corpus: Corpus) -> str:
    """Copy the assets the stored vector of ``case`` references into the store; a note on what is missing."""
    vector = corpus.vector(case.name)
    missing = []
    for where, ref in _declared_assets(case, vector.file(vector.case["file"])).items():
        section, description = case.assets[where]
        try:
            data = b"" if ref in corpus.assets() else load_asset(ref)
        except AssetError:
            missing.append(ref)
            continue
        corpus.add_asset(ref, data, [section], description, case.name)
    return f"asset(s) {', '.join(missing)} not installed, so not in the store" if missing else ""


@dataclasses.dataclass(frozen=True)
class Generated:
    name: str
    status: str  # "written", "exists", "skipped"
    detail: str = ""


def _load_sets(names: Sequence[str]) -> tuple[list[Case], list[Generated]]:
    """The cases of the sets that load; a set that is not installed or fails to load is reported as skipped."""
    cases: list[Case] = []
    skipped = []
    for name in names:
        try:
            cases += case_sets.load_all([name])
        except (InputError, PluginLoadError) as exc:
            skipped.append(Generated(f"<case set {name}>", "skipped", str(exc)))
    return cases, skipped


def generate(
    corpus: Corpus,
    only: Sequence[str] | None = None,
    registry: Registry | None = None,
    cases: Sequence[Case] | None = None,
    sets: Sequence[str] | None = None,
) -> list[Generated]:
    """Write every case the corpus lacks, or those in ``only``, and store the assets positive vectors reference.

    The cases are ``cases``, or those of the case sets ``sets`` (``core`` and plugin entry-point names,
    :mod:`~codecframe.conformance.case_sets`), by default the sets the corpus's manifest lists (``core``
    for a new corpus). Sets given by name are added to the manifest. Names in ``only`` that already
    exist, or that the cases do not define, raise CorpusError.
    """
    reg = registry or default_registry
    skipped: list[Generated] = []
    if cases is None:
        names = list(sets) if sets is not None else corpus.case_sets()
        cases, skipped = _load_sets(names)
        if sets is not None and not skipped:
            corpus.record_case_sets(names)
    cases = list(cases)
    catalogue = {c.name: c for c in cases}
    existing = set(corpus.names())
    if only:
        unknown = [n for n in only if n not in catalogue]
        if unknown:
            raise CorpusError(f"no case named {', '.join(unknown)} in the catalogue")
        clash = [n for n in only if n in existing]
        if clash:
            raise CorpusError(f"vector(s) {', '.join(clash)} already exist; vectors are never regenerated")
    out = skipped
    for case in cases:
        if only and case.name not in only:
            continue
        if case.name in existing:
            note = _store_assets(case, corpus) if isinstance(case, PositiveCase) else ""
            out.append(Generated(case.name, "exists", note))
            continue
        why = _missing(case, corpus, reg)
        if why:
            out.append(Generated(case.name, "skipped", why))
            continue
        if isinstance(case, PositiveCase):
            files = build_positive(case, reg)
            _declared_assets(case, files["stream.cfr"])  # before storing anything
        else:
            files = build_negative(case, corpus, reg)
        corpus.add(case.name, files)
        note = _store_assets(case, corpus) if isinstance(case, PositiveCase) else ""
        out.append(Generated(case.name, "written", note))
    return out


def _comparable(name: str, data: bytes) -> bytes:
    """A vector file as compared by :func:`drift`: ``case.json`` without ``generated_by`` (the writer's version)."""
    if name != "case.json":
        return data
    case = json.loads(data)
    case.pop("generated_by", None)
    return _json(case)


def drift(corpus: Corpus, sets: Sequence[str], workdir: str | os.PathLike[str],
          registry: Registry | None = None) -> dict[str, str]:
    """Regenerate the stored vectors of case sets ``sets`` into a new corpus under ``workdir`` and compare.

    Returns ``{vector name: what differs}`` (empty when every file of every stored vector of these sets,
    and every asset they reference, is reproduced byte for byte; ``case.json`` is compared without
    ``generated_by``). A stored vector the sets no longer define counts as a difference.
    """
    fresh = Corpus(Path(workdir) / "vectors")
    cases, skipped = _load_sets(sets)
    if skipped:
        raise CorpusError("; ".join(g.detail for g in skipped))
    stored_names = set(corpus.names())
    only = [c.name for c in cases if c.name in stored_names]
    bases = {c.base for c in cases if isinstance(c, NegativeCase) and c.name in only} - set(only)
    generate(fresh, only=[*only, *sorted(bases)] if only else None, registry=registry, cases=cases)
    problems: dict[str, str] = {}
    for name in only:
        old, new = corpus.vector(name).path, fresh.root / name
        files = sorted({p.name for p in old.iterdir()} | {p.name for p in new.iterdir()})
        differ = [f for f in files if not (old / f).is_file() or not (new / f).is_file()
                  or _comparable(f, (old / f).read_bytes()) != _comparable(f, (new / f).read_bytes())]
        if differ:
            problems[name] = f"{', '.join(differ)} differ"
    stored_assets = corpus.assets()
    for ref, entry in fresh.assets().items():
        if ref not in stored_assets:
            for name in entry["vectors"]:
                problems.setdefault(name, f"references {ref}, which the stored corpus's asset store lacks")
    return problems
