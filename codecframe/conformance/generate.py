"""Write NEW conformance vectors from the case catalogue (existing vectors are never regenerated)."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import __version__, canonical
from ..errors import CodecframeError
from ..registry import Registry, registry as default_registry
from .cases import CASES, EXACT, NegativeCase, PositiveCase
from .corpus import Corpus, CorpusError, sha256, symbols_sha256, values_sha256
from .decoding import decode_with_symbols
from .plugin_cases import PLUGIN_CASES

__all__ = ["generate", "Generated", "build_positive", "build_negative", "MAX_STORED_VALUES"]

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


@dataclasses.dataclass(frozen=True)
class Generated:
    name: str
    status: str  # "written", "exists", "skipped"
    detail: str = ""


def generate(
    corpus: Corpus,
    only: Sequence[str] | None = None,
    registry: Registry | None = None,
    cases: Sequence[PositiveCase | NegativeCase] | None = None,
) -> list[Generated]:
    """Write every case of ``cases`` (default: the core and plugin catalogue), or those in ``only``, that the corpus lacks.

    Names in ``only`` that already exist, or that the catalogue does not know, raise CorpusError.
    Plugins pass their own ``cases`` and corpus directory.
    """
    reg = registry or default_registry
    cases = [*CASES, *PLUGIN_CASES] if cases is None else list(cases)
    catalogue = {c.name: c for c in cases}
    existing = set(corpus.names())
    if only:
        unknown = [n for n in only if n not in catalogue]
        if unknown:
            raise CorpusError(f"no case named {', '.join(unknown)} in the catalogue")
        clash = [n for n in only if n in existing]
        if clash:
            raise CorpusError(f"vector(s) {', '.join(clash)} already exist; vectors are never regenerated")
    out = []
    for case in cases:
        if only and case.name not in only:
            continue
        if case.name in existing:
            out.append(Generated(case.name, "exists"))
            continue
        why = _missing(case, corpus, reg)
        if why:
            out.append(Generated(case.name, "skipped", why))
            continue
        files = build_positive(case, reg) if isinstance(case, PositiveCase) else build_negative(case, corpus, reg)
        corpus.add(case.name, files)
        out.append(Generated(case.name, "written"))
    return out
