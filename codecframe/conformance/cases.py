"""The catalogue of conformance cases that ``codecframe conformance generate`` can write.

A :class:`PositiveCase` builds a pipeline and its input groups (seeded); the generator encodes
them, optionally edits the file (header-level features), and records what a conforming decoder
must produce. A :class:`NegativeCase` derives a file that must be rejected from a *stored*
positive vector with a byte-level edit, together with the error class the spec prescribes.
New cases are appended here; existing vectors are never regenerated.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Mapping
from typing import Any

import msgpack
import numpy as np

from .. import container
from ..abc import Posterior
from ..assets import asset_ref
from ..builtins.gaussian import GaussianPosterior
from ..coders import RangeCoder
from ..pipeline import Pipeline
from ..probability import ParametricModel, ProbabilityModel
from ..probability.kernels import param_edge
from . import surgery

__all__ = ["PositiveCase", "NegativeCase", "Case", "CASES", "Tolerance", "header_edit", "pipeline", "FOREIGN_ASSET"]

#: ``(max_abs, rmse)`` allowed between a decoder's reconstruction and the stored one.
Tolerance = tuple[float, float]
EXACT: Tolerance = (0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class PositiveCase:
    name: str
    description: str
    features: tuple[str, ...]
    spec_sections: tuple[str, ...]
    #: Returns the pipeline and the groups to encode.
    make: Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    extras: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    #: A valid edit of the encoded file (a header feature the encoder does not write itself).
    edit: Callable[[bytes], bytes] | None = None
    #: Per group name; groups not listed must decode exactly.
    tolerance: Mapping[str, Tolerance] = dataclasses.field(default_factory=dict)
    #: Component ids that must be installed to generate the case, as (kind, id).
    needs: tuple[tuple[str, str], ...] = ()
    #: For every asset reference in the header, by where it sits (``"pipeline.quantizer.tables"``,
    #: ``"meta.vbq_image.vae"``): the spec section that defines the asset and a one-line description.
    #: The generator copies each referenced asset into the corpus's asset store with this entry.
    assets: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class NegativeCase:
    name: str
    description: str
    features: tuple[str, ...]
    spec_sections: tuple[str, ...]
    base: str
    mutate: Callable[[bytes], bytes]
    expected_error: str


Case = PositiveCase | NegativeCase
#: A reference no installed asset has (for negative vectors: a file made with other tables).
FOREIGN_ASSET = asset_ref(b"an asset that no distribution ships")


def pipeline(quantizer: Any, allocator: Any = "fixed", coder: str = "range", precision: int = 16,
             posterior: str = "gaussian") -> Pipeline:
    """A pipeline with the given components (helper for plugins' cases)."""
    return Pipeline(posterior=posterior, quantizer=quantizer, allocator=allocator,
                    entropy_coder={"id": coder, "precision": precision})


# --------------------------------------------------------------------------- inputs
def _gauss(seed: int, shape: tuple[int, ...], scale: float = 1.0, dtype: Any = np.float64, smooth: bool = False) -> GaussianPosterior:
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal(shape) * scale
    if smooth and len(shape) >= 2:
        mean = np.cumsum(mean, axis=-1) / np.sqrt(shape[-1])
    return GaussianPosterior(mean=mean.astype(dtype), std=np.full(shape, 0.1, dtype))


def _basic_groups() -> dict[str, Posterior]:
    return {"image": _gauss(1, (12, 10), 2.0, np.float32, smooth=True), "bias": _gauss(2, (7,), 0.5)}


def _pipeline(quantizer: Any, coder: str = "range", precision: int = 16, allocator: Any = "fixed") -> Pipeline:
    return Pipeline.from_config({
        "quantizer": quantizer,
        "allocator": allocator,
        "entropy_coder": {"id": coder, "precision": precision},
    })


def _basic(coder: str, precision: int) -> Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]:
    return lambda: (_pipeline({"id": "uniform", "step": 0.25}, coder, precision), _basic_groups())


def _lagrangian(coder: str, allocator: dict[str, Any]) -> Callable[[], tuple[Pipeline, Mapping[str, Posterior]]]:
    groups = {f"layer{i}": _gauss(10 + i, (16, 8), 2.0**i) for i in range(3)}
    return lambda: (_pipeline({"id": "uniform"}, coder, 16, allocator), groups)


def _edge_groups() -> dict[str, Posterior]:
    rng = np.random.default_rng(20)
    return {
        "empty": GaussianPosterior(mean=np.zeros((0, 3)), std=np.ones((0, 3))),
        "single": GaussianPosterior(mean=np.array([-3.3]), std=np.ones(1)),
        "constant": GaussianPosterior(mean=np.full((5, 5), 1.1, np.float32), std=np.ones((5, 5), np.float32)),
        "cube": _gauss(21, (2, 3, 4), 3.0),
        "negative": GaussianPosterior(mean=-10.0 - rng.random(9), std=np.ones(9)),
        "layer.0/weight ü": _gauss(22, (4, 2), 1.0, np.float32),
    }


def _wide_groups() -> dict[str, Posterior]:
    rng = np.random.default_rng(30)
    heavy = rng.standard_t(1.5, 3000) * 40.0
    return {"heavy": GaussianPosterior(mean=np.clip(heavy, -999.0, 999.0), std=np.ones(3000))}


def _full_alphabet_groups() -> dict[str, Posterior]:
    values = np.arange(-2048, 2048, dtype=np.float64) * 0.5
    values = np.concatenate([values, np.zeros(500)])
    return {"ramp": GaussianPosterior(mean=values, std=np.ones(values.size))}


COMMON = ("bitstream §2", "bitstream §3", "bitstream §4", "bitstream §5", "bitstream §7.1", "bitstream §7.2", "bitstream §7.3")
RANGE = ("range-coder §3", "range-coder §5", "range-coder §5.1")
RANS = ("range-coder §4", "range-coder §5", "range-coder §5.1")


def _positive_core() -> list[PositiveCase]:
    cases = []
    for coder, sections in (("range", RANGE), ("rans", RANS)):
        for precision in (12, 16, 24):
            cases.append(PositiveCase(
                name=f"core-uniform-{coder}-p{precision}",
                description=f"uniform quantizer (step 0.25), fixed allocator, {coder} coder at precision {precision}; "
                            "a float32 2-D group and a float64 1-D group, meta and a float32 extra",
                features=("uniform", coder, f"precision-{precision}", "float32", "float64", "multiple-groups", "meta", "extras"),
                spec_sections=COMMON + sections,
                make=_basic(coder, precision),
                meta={"width": 10, "height": 12, "note": "grüße", "tags": [1, 2.5, None, True]},
                extras={"raw": np.arange(5, dtype=np.float32) / 3},
            ))
    cases += [
        PositiveCase(
            name="core-uniform-lagrangian-range",
            description="uniform quantizer with the lagrangian allocator at 2 bits per element: three groups of "
                        "different scales get different steps",
            features=("uniform", "range", "precision-16", "lagrangian", "per-group-settings"),
            spec_sections=COMMON + RANGE,
            make=_lagrangian("range", {"id": "lagrangian", "target_bpe": 2.0}),
        ),
        PositiveCase(
            name="core-uniform-lagrangian-rans",
            description="uniform quantizer with the lagrangian allocator at a 250-byte budget, rANS coder",
            features=("uniform", "rans", "precision-16", "lagrangian", "per-group-settings"),
            spec_sections=COMMON + RANS,
            make=_lagrangian("rans", {"id": "lagrangian", "target_bytes": 250}),
        ),
        PositiveCase(
            name="core-uniform-edge-groups",
            description="edge groups: empty (shape [0, 3], count 0), one element, constant (alphabet of 1), 3-D, "
                        "only negative symbols, a name with '.', '/', a space and non-ASCII",
            features=("uniform", "range", "precision-16", "empty-group", "single-symbol-alphabet", "negative-offset",
                      "3-d", "unicode-names"),
            spec_sections=COMMON + RANGE,
            make=lambda: (_pipeline({"id": "uniform", "step": 0.5}), _edge_groups()),
        ),
        PositiveCase(
            name="core-uniform-wide-alphabet-rans",
            description="heavy-tailed values at step 0.5: an alphabet of about 4000 symbols, most with frequency 1",
            features=("uniform", "rans", "precision-16", "wide-alphabet"),
            spec_sections=COMMON + RANS,
            make=lambda: (_pipeline({"id": "uniform", "step": 0.5}, "rans"), _wide_groups()),
        ),
        PositiveCase(
            name="core-uniform-full-alphabet-range-p12",
            description="4096 distinct symbols at precision 12: every frequency is exactly 1",
            features=("uniform", "range", "precision-12", "full-alphabet"),
            spec_sections=COMMON + RANGE,
            make=lambda: (_pipeline({"id": "uniform", "step": 0.5}, "range", 12), _full_alphabet_groups()),
        ),
        PositiveCase(
            name="container-minor-version-1",
            description="container minor version 1 (a later minor): a major-1 reader must accept it",
            features=("minor-version",),
            spec_sections=("bitstream §2", "bitstream §6"),
            make=_basic("range", 16),
            edit=lambda d: surgery.fix_checksums(surgery.patch(d, 5, b"\x01")),
        ),
        PositiveCase(
            name="container-uninstalled-posterior-allocator",
            description="the header names a posterior and an allocator that no installed distribution provides: "
                        "they are provenance only, so the file must decode",
            features=("provenance-only-roles",),
            spec_sections=("bitstream §4", "bitstream §5"),
            make=_basic("range", 16),
            edit=lambda d: surgery.rewrite_header(d, lambda h: (
                h["pipeline"].update(posterior={"id": "laplace-from-elsewhere", "version": 3, "scale_floor": 0.01},
                                     allocator={"id": "knapsack-from-mars", "version": 1}),
                h["provenance"].update(posterior={"distribution": "codecframe-nosuch", "version": "9.9"},
                                       allocator={"distribution": "codecframe-nosuch", "version": "9.9"}))),
        ),
        PositiveCase(
            name="container-optional-field",
            description="an 'optional' header map with content a reader must ignore",
            features=("optional-field",),
            spec_sections=("bitstream §4", "bitstream §6"),
            make=_basic("rans", 16),
            edit=lambda d: surgery.rewrite_header(d, lambda h: h.update(optional={"future": [1, 2], "x": {"y": b"z"}})),
        ),
    ]
    return cases


# --------------------------------------------------------------------------- negatives
def _set_u32(offset: int, value: int) -> Callable[[bytes], bytes]:
    return lambda d: surgery.patch(d, offset, struct.pack("<I", value))


def _stream(i: int, part: str) -> Callable[[bytes], int]:
    """Offset of stream ``i``'s length field, payload start or CRC field."""
    def offset(d: bytes) -> int:
        length_at, start, length = surgery.layout(d).streams[i]
        return {"length": length_at, "payload": start, "crc": start + length}[part]
    return offset


def _flip(where: Callable[[bytes], int], bit: int = 0) -> Callable[[bytes], bytes]:
    return lambda d: surgery.patch(d, where(d), bytes([d[where(d)] ^ (1 << bit)]))


def _payload_edit(i: int, edit: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Replace stream ``i``'s payload by ``edit(payload)``, with its length and CRC made valid again."""
    def mutate(d: bytes) -> bytes:
        length_at, start, length = surgery.layout(d).streams[i]
        payload = edit(d[start : start + length])
        out = d[:length_at] + struct.pack("<Q", len(payload)) + payload + d[start + length :]
        return surgery.fix_checksums(out)
    return mutate


def header_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    return lambda d: surgery.rewrite_header(d, edit)


def _first_group(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda h: h["groups"][0].update(changes)


def _non_canonical(d: bytes) -> bytes:
    """The same header with its top-level keys in reverse order (valid msgpack, not canonical)."""
    header = msgpack.unpackb(d[12 : surgery.layout(d).header_end], raw=False, strict_map_key=False)
    reordered = dict(reversed(list(header.items())))
    return surgery.replace_header(d, msgpack.packb(reordered, use_bin_type=True))


BASE = "core-uniform-range-p16"
FIXED_SECTIONS = ("bitstream §2",)


def _negative_core() -> list[NegativeCase]:
    def neg(name: str, description: str, mutate: Callable[[bytes], bytes], error: str, sections: tuple[str, ...],
            features: tuple[str, ...] = (), base: str = BASE) -> NegativeCase:
        return NegativeCase(f"neg-{name}", description, features or (name,), sections, base, mutate, error)

    return [
        neg("empty-file", "a file of zero bytes", lambda d: b"", "FormatError", FIXED_SECTIONS),
        neg("bad-magic", "the magic bytes changed to 'GIF8'", lambda d: b"GIF8" + d[4:], "FormatError", FIXED_SECTIONS),
        neg("truncated-fixed-header", "the file cut after 10 bytes, inside the fixed header",
            lambda d: d[:10], "TruncatedError", FIXED_SECTIONS, ("truncated",)),
        neg("truncated-header", "the file cut in the middle of the header map",
            lambda d: d[: (12 + surgery.layout(d).header_end) // 2], "TruncatedError", FIXED_SECTIONS, ("truncated",)),
        neg("truncated-stream-length", "the file cut inside the first stream's length field",
            lambda d: d[: _stream(0, "length")(d) + 5], "TruncatedError", FIXED_SECTIONS, ("truncated",)),
        neg("truncated-stream-payload", "the file cut in the middle of the first stream's payload: its declared "
            "length exceeds the bytes left", lambda d: d[: _stream(0, "payload")(d) + 3], "LimitError",
            FIXED_SECTIONS, ("truncated", "declared-size-too-large")),
        neg("truncated-last-crc", "the last byte of the file (part of the last stream's CRC) removed",
            lambda d: d[:-1], "LimitError", FIXED_SECTIONS, ("truncated",)),
        neg("header-checksum", "one bit of the header map flipped (header CRC mismatch)",
            _flip(lambda d: 20), "ChecksumError", FIXED_SECTIONS, ("bad-checksum",)),
        neg("stream-checksum", "one bit of the first stream's payload flipped (stream CRC mismatch)",
            _flip(_stream(0, "payload"), 3), "ChecksumError", FIXED_SECTIONS, ("bad-checksum",)),
        neg("stream-crc-field", "one bit of the last stream's CRC field flipped",
            _flip(_stream(-1, "crc"), 7), "ChecksumError", FIXED_SECTIONS, ("bad-checksum",)),
        neg("major-version-2", "container major version 2 (header CRC recomputed)",
            lambda d: surgery.fix_checksums(surgery.patch(d, 4, b"\x02")), "VersionError",
            ("bitstream §2", "bitstream §6"), ("unknown-major-version",)),
        neg("major-version-0", "container major version 0 (header CRC recomputed)",
            lambda d: surgery.fix_checksums(surgery.patch(d, 4, b"\x00")), "VersionError",
            ("bitstream §2", "bitstream §6"), ("unknown-major-version",)),
        neg("nonzero-flags", "reserved flags set to 1 (header CRC recomputed)",
            lambda d: surgery.fix_checksums(surgery.patch(d, 6, b"\x01\x00")), "FormatError", FIXED_SECTIONS),
        neg("header-length-over-limit", "declared header length of 16 MiB + 1",
            _set_u32(8, (16 << 20) + 1), "LimitError", ("bitstream §2", "bitstream §3"), ("declared-size-too-large",)),
        neg("header-length-past-end", "declared header length larger than the file (below the limit)",
            _set_u32(8, 1 << 20), "TruncatedError", FIXED_SECTIONS, ("declared-size-too-large",)),
        neg("stream-length-too-large", "first stream declares 2^40 bytes",
            lambda d: surgery.patch(d, _stream(0, "length")(d), struct.pack("<Q", 1 << 40)), "LimitError",
            FIXED_SECTIONS, ("declared-size-too-large",)),
        neg("stream-length-max", "first stream declares 2^64 - 1 bytes",
            lambda d: surgery.patch(d, _stream(0, "length")(d), b"\xff" * 8), "LimitError",
            FIXED_SECTIONS, ("declared-size-too-large",)),
        neg("trailing-garbage", "16 bytes appended after the last stream",
            lambda d: d + bytes(range(16)), "TrailingDataError", FIXED_SECTIONS),
        neg("trailing-zero-byte", "one zero byte appended after the last stream",
            lambda d: d + b"\x00", "TrailingDataError", FIXED_SECTIONS, ("trailing-garbage",)),
        neg("non-canonical-header", "header map keys in reverse order (valid msgpack, not canonical)",
            _non_canonical, "FormatError", ("bitstream §3",)),
        neg("unknown-critical-field", "an unknown top-level header key 'future'",
            header_edit(lambda h: h.update(future=1)), "VersionError", ("bitstream §4", "bitstream §6")),
        neg("streams-count-mismatch", "the header lists one group fewer than the file has streams",
            header_edit(lambda h: h["groups"].pop()), "FormatError", ("bitstream §4",)),
        neg("group-extra-key", "a group record with an extra key",
            header_edit(_first_group(note="x")), "FormatError", ("bitstream §4",)),
        neg("group-shape-over-limit", "a group shape of 2^31 elements",
            header_edit(_first_group(shape=[1 << 16, 1 << 15])), "LimitError", ("bitstream §4",),
            ("declared-size-too-large",)),
        neg("count-shape-mismatch", "a group count one less than its shape implies",
            header_edit(lambda h: h["groups"][0].update(count=h["groups"][0]["count"] - 1)), "FormatError",
            ("bitstream §4",)),
        neg("group-bad-dtype", "a group dtype that is not a container dtype ('complex64')",
            header_edit(_first_group(dtype="complex64")), "FormatError", ("bitstream §4",)),
        neg("extra-size-mismatch", "an extra record declaring 6 elements for a 5-element stream",
            header_edit(lambda h: h["extras"][0].update(shape=[6])), "FormatError", ("bitstream §4",)),
        neg("unknown-component", "the quantizer id changed to one no distribution provides",
            header_edit(lambda h: (h["pipeline"]["quantizer"].update(id="no-such-quantizer"),
                                    h["provenance"].update(quantizer={"distribution": "codecframe-nosuch", "version": "1.0"}))),
            "UnknownComponentError", ("bitstream §5",)),
        neg("unknown-entropy-coder", "the entropy coder id changed to an unknown one",
            header_edit(lambda h: h["pipeline"]["entropy_coder"].update(id="arithmetic-from-mars")),
            "UnknownComponentError", ("bitstream §5",), ("unknown-component",)),
        neg("newer-component-version", "the quantizer config claims version 99",
            header_edit(lambda h: h["pipeline"]["quantizer"].update(version=99)), "VersionError",
            ("bitstream §5", "bitstream §6")),
        neg("unknown-config-key", "the quantizer config has an unknown option",
            header_edit(lambda h: h["pipeline"]["quantizer"].update(deadzone=0.5)), "ConfigError", ("bitstream §5",)),
        neg("range-stream-appended", "a zero byte appended to the first range-coded stream (length and CRC valid)",
            _payload_edit(0, lambda p: p + b"\x00"), "DecodeError", ("range-coder §3.6",), ("entropy-stream", "range")),
        neg("rans-stream-appended", "four zero bytes appended to the first rANS stream (length and CRC valid)",
            _payload_edit(0, lambda p: p + b"\x00" * 4), "DecodeError", ("range-coder §4.4",),
            ("entropy-stream", "rans"), base="core-uniform-rans-p16"),
        neg("rans-stream-odd-length", "one byte cut from the first rANS stream (length and CRC valid)",
            _payload_edit(0, lambda p: p[:-1]), "DecodeError", ("range-coder §4.4",), ("entropy-stream", "rans"),
            base="core-uniform-rans-p16"),
    ]


# --------------------------------------------------------------------------- parametric models, configs
def _heavy_channels() -> dict[str, Posterior]:
    """Four channels of heavy-tailed values at different scales, and one far outlier (a long escape payload)."""
    rng = np.random.default_rng(60)
    mean = rng.standard_t(2.0, (4, 60)) * np.array([0.5, 1.0, 2.0, 4.0])[:, None] + np.array([0.0, 3.0, -2.0, 0.5])[:, None]
    mean[2, 7] = 1.0e5
    return {"w": GaussianPosterior(mean=mean.astype(np.float32), std=np.ones((4, 60), np.float32))}


def _parametric_groups() -> dict[str, Posterior]:
    rng = np.random.default_rng(61)
    return {
        "smooth": _gauss(62, (12, 10), 3.0, smooth=True),
        "empty": GaussianPosterior(mean=np.zeros((0, 4)), std=np.ones((0, 4))),
        "negative": GaussianPosterior(mean=-20.0 - rng.random(9) * 4, std=np.ones(9)),
    }


def _rows_last() -> dict[str, Posterior]:
    rng = np.random.default_rng(63)
    mean = rng.logistic(0.0, 1.0, (6, 5)) * np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    return {"m": GaussianPosterior(mean=mean, std=np.ones((6, 5)))}


PARAMETRIC = ("bitstream §4", "bitstream §5", "bitstream §7.4", "range-coder §6", "range-coder §6.1", "range-coder §6.2",
              "range-coder §6.3", "range-coder §6.4", "range-coder §6.5")
PARAMETRIC_BASE = "core-parametric-laplace-channels-range-p16"


def _side(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda h: h["groups"][0]["side"].update(changes)


def _escaped_first(payload: list[tuple[int, int]]) -> Callable[[bytes], bytes]:
    """Replace the first group's range stream by one that codes symbol 0 as the upper escape bin
    (range-coder §6.5) followed by ``payload``: ``(w, value)`` uniform w-bit values, the first one the
    6-bit bit count n. Decoding must fail inside this escape, so nothing after it is needed."""
    def mutate(d: bytes) -> bytes:
        header = container.read(d).header
        side, precision = header["groups"][0]["side"], header["pipeline"]["entropy_coder"]["precision"]
        family = header["pipeline"]["quantizer"]["family"]
        model = ParametricModel(family, side["mean"], side["scale"], side["lo"], side["hi"], True, precision)
        _, _, lo, _, _, _, grid, bound, mul = model.kernel_args()
        total, size = 1 << precision, model.size
        start = param_edge(size - 1, size, total - size, total, float(lo - 1), float(model.mean[0]),
                           1.0 / max(float(model.scale[0]), 2.0**-40), grid, bound, mul)
        rows, symbols, indexes = [[0, start, total]], [1], [0]  # row 0: the escape bin and all below it
        for w, value in payload:  # one table row per width: 2^w bins of 2^(p - w) each
            rows.append(list(range(0, total + 1, total >> w)))
            symbols.append(value)
            indexes.append(len(rows) - 1)
        width = max(len(r) for r in rows)
        table = ProbabilityModel(np.array([r + [total] * (width - len(r)) for r in rows]),
                                 sizes=[len(r) - 1 for r in rows], precision=precision)
        stream = RangeCoder(precision=precision).encode(np.array(symbols, np.int32), table, np.array(indexes, np.int32))
        return _payload_edit(0, lambda _: stream)(d)
    return mutate


def _parametric() -> list[Case]:
    quantizer = {"id": "uniform-parametric", "step": 0.25, "family": "laplace", "channel_axis": 0, "support": 24}
    positives = [
        PositiveCase(
            name=PARAMETRIC_BASE,
            description="uniform-parametric quantizer: Laplace model per channel (4 parameter pairs, per-symbol "
                        "indexes), support of 24 values with escapes on both sides, one outlier with an 18-bit escape "
                        "payload; range coder at precision 16",
            features=("parametric", "laplace", "escape", "indexes", "range", "precision-16", "float32"),
            spec_sections=PARAMETRIC + RANGE[:1],
            make=lambda: (_pipeline(quantizer), _heavy_channels()),
        ),
        PositiveCase(
            name="core-parametric-gaussian-rans-p12",
            description="uniform-parametric quantizer: one Gaussian parameter pair per group (no channel axis); a "
                        "smooth 2-D group, an empty group and a group of negative symbols; rANS at precision 12",
            features=("parametric", "gaussian", "rans", "precision-12", "empty-group", "float64", "multiple-groups"),
            spec_sections=PARAMETRIC + RANS[:1],
            make=lambda: (_pipeline({"id": "uniform-parametric", "step": 0.5, "family": "gaussian"}, "rans", 12),
                          _parametric_groups()),
        ),
        PositiveCase(
            name="core-parametric-logistic-last-axis-range-p24",
            description="uniform-parametric quantizer: logistic model per column (channel_axis -1, 5 pairs), "
                        "support of 8 values (many escapes); range coder at precision 24",
            features=("parametric", "logistic", "escape", "indexes", "range", "precision-24", "float64"),
            spec_sections=PARAMETRIC + RANGE[:1],
            make=lambda: (_pipeline({"id": "uniform-parametric", "step": 0.5, "family": "logistic", "channel_axis": -1,
                                     "support": 8}, "range", 24), _rows_last()),
        ),
    ]

    def neg(name: str, description: str, edit: Callable[[dict[str, Any]], None], error: str = "FormatError",
            base: str = PARAMETRIC_BASE) -> NegativeCase:
        return NegativeCase(f"neg-parametric-{name}", description, ("parametric", "side-info"), ("bitstream §7.4",),
                            base, header_edit(edit), error)

    negatives = [
        neg("side-extra-key", "side info with a fifth key", _side(extra=1)),
        neg("negative-scale", "a negative scale", _side(scale=np.array([1.0, -1.0, 1.0, 1.0]))),
        neg("nan-mean", "a NaN location", _side(mean=np.array([0.0, np.nan, 0.0, 0.0]))),
        neg("pair-count", "five parameter pairs for four channels", _side(mean=np.zeros(5), scale=np.ones(5))),
        neg("scale-as-list", "the scales as a msgpack array instead of a float64 ndarray", _side(scale=[1.0, 1.0, 1.0, 1.0])),
        neg("support-over-limit", "a support of 65537 values",
            lambda h: h["groups"][0]["side"].update(hi=h["groups"][0]["side"]["lo"] + 65536)),
        neg("support-over-precision", "a support of 4095 values (4097 bins with the escapes) at precision 12",
            lambda h: h["groups"][0]["side"].update(hi=h["groups"][0]["side"]["lo"] + 4094), "InputError",
            base="core-parametric-gaussian-rans-p12"),
        neg("channel-axis", "a channel axis the group does not have",
            lambda h: h["pipeline"]["quantizer"].update(channel_axis=2)),
    ]
    escapes = ("range-coder §6.5", "bitstream §7.4")
    negatives += [
        NegativeCase("neg-parametric-escape-over-31-bits", "the first symbol escaped with a 6-bit bit count of 40 "
                     "(more than 31)", ("parametric", "escape", "entropy-stream"), escapes, PARAMETRIC_BASE,
                     _escaped_first([(6, 40)]), "DecodeError"),
        NegativeCase("neg-parametric-escape-outside-int32", "the first symbol escaped above the support with 31 "
                     "payload bits all set: the value exceeds int32", ("parametric", "escape", "entropy-stream"),
                     escapes, PARAMETRIC_BASE, _escaped_first([(6, 31), (8, 255), (8, 255), (8, 255), (7, 127)]),
                     "DecodeError"),
    ]
    return [*positives, *negatives]


def _configs() -> list[Case]:
    coder = ("bitstream §5", "range-coder §2.1")
    return [
        PositiveCase(
            name="container-default-configs",
            description="configs with only 'id' and 'version' where the rest has defaults: the entropy coder "
                        "without 'precision' (default 16) and the uniform quantizer without 'step' and "
                        "'candidates' (encoder-side); decodes like core-uniform-range-p16",
            features=("default-config",),
            spec_sections=("bitstream §5", "bitstream §7.2", "range-coder §2.1"),
            make=_basic("range", 16),
            edit=header_edit(lambda h: (h["pipeline"]["entropy_coder"].pop("precision"),
                                        h["pipeline"]["quantizer"].pop("step"), h["pipeline"]["quantizer"].pop("candidates"))),
        ),
        NegativeCase("neg-coder-precision-25", "entropy coder precision 25 (the range is 12..24)", ("coder-config",),
                     coder, BASE, header_edit(lambda h: h["pipeline"]["entropy_coder"].update(precision=25)), "ConfigError"),
        NegativeCase("neg-coder-precision-11", "entropy coder precision 11 (the range is 12..24)", ("coder-config",),
                     coder, BASE, header_edit(lambda h: h["pipeline"]["entropy_coder"].update(precision=11)), "ConfigError"),
        NegativeCase("neg-coder-precision-float", "entropy coder precision 16.0 (a float, not an integer)",
                     ("coder-config",), coder, BASE,
                     header_edit(lambda h: h["pipeline"]["entropy_coder"].update(precision=16.0)), "ConfigError"),
    ]


def _nested(depth: int) -> Any:
    """A value for ``meta.deep`` whose innermost scalar sits at ``depth`` (the header map is depth 0)."""
    value: Any = 1
    for _ in range(depth - 2):
        value = [value]
    return value


def _deeper(d: bytes) -> bytes:
    """The header with ``meta.deep`` one level deeper, packed without the writer's depth check (keys sorted)."""
    def ordered(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: ordered(obj[k]) for k in sorted(obj, key=lambda k: k.encode("utf-8"))}
        return [ordered(v) for v in obj] if isinstance(obj, list) else obj

    header = {k: v for k, v in container.read(d).header.items()}
    header["meta"] = {**header["meta"], "deep": [header["meta"]["deep"]]}
    return surgery.replace_header(d, msgpack.packb(ordered(header), use_bin_type=True))


def _ext8(d: bytes) -> bytes:
    """The 16-byte ndarray ext of ``meta.u8`` written as ext 8 (``c7 10 01``) instead of fixext 16 (``d8 01``)."""
    head = d[12 : surgery.layout(d).header_end]
    at = head.index(b"\xd8\x01")
    return surgery.replace_header(d, head[:at] + b"\xc7\x10\x01" + head[at + 2 :])


def _encodings() -> list[Case]:
    sections = ("bitstream §3",)
    return [
        PositiveCase(
            name="container-header-depth-32",
            description="meta holding nested arrays whose innermost value is at depth 32 (the header map is at "
                        "depth 0, meta at 1): the deepest nesting a reader must accept",
            features=("nesting-depth",),
            spec_sections=sections,
            make=_basic("range", 16),
            edit=header_edit(lambda h: h["meta"].update(deep=_nested(32))),
        ),
        NegativeCase("neg-header-depth-33", "the same meta value one level deeper (depth 33)", ("nesting-depth",),
                     sections, "container-header-depth-32", _deeper, "FormatError"),
        PositiveCase(
            name="container-ndarray-fixext16",
            description="meta holding a uint8[6] ndarray: its 16-byte ext payload is written as fixext 16",
            features=("ndarray-ext", "fixext"),
            spec_sections=sections,
            make=_basic("range", 16),
            edit=header_edit(lambda h: h["meta"].update(u8=np.arange(6, dtype=np.uint8))),
        ),
        NegativeCase("neg-ndarray-ext8-for-16-bytes", "the same 16-byte ndarray ext written as ext 8 (not the "
                     "shortest encoding: non-canonical)", ("ndarray-ext", "non-canonical-header"), sections,
                     "container-ndarray-fixext16", _ext8, "FormatError"),
    ]


def _group(i: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda h: h["groups"][i].update(changes)


def _without(path: tuple[Any, ...], key: str) -> Callable[[dict[str, Any]], None]:
    def edit(h: dict[str, Any]) -> None:
        target: Any = h
        for step in path:
            target = target[step]
        del target[key]
    return edit


def _two_large_groups(h: dict[str, Any]) -> None:
    """Both groups declare 2^27 + 1 elements (each within the per-group limit, together over 2^28)."""
    for rec in h["groups"]:
        rec.update(shape=[(1 << 27) + 1], count=(1 << 27) + 1)


def _header_rules() -> list[Case]:
    """One vector per rule of bitstream §4 that no earlier vector breaks (each breaks exactly that rule)."""
    four = ("bitstream §4",)

    def neg(name: str, description: str, edit: Callable[[dict[str, Any]], None], error: str = "FormatError",
            features: tuple[str, ...] = ("header-schema",)) -> NegativeCase:
        return NegativeCase(f"neg-{name}", description, features, four, BASE, header_edit(edit), error)

    return [
        PositiveCase(
            name="container-provenance-malformed",
            description="provenance entries that are a string and an array: informative only, so the file decodes",
            features=("provenance-only-roles",),
            spec_sections=four,
            make=_basic("range", 16),
            edit=header_edit(lambda h: h["provenance"].update(quantizer="uniform from somewhere", posterior=[1, 2])),
        ),
        neg("pipeline-missing-role", "the pipeline map without its 'allocator' role", _without(("pipeline",), "allocator")),
        neg("pipeline-role-not-map", "the posterior role given as a string instead of a config map",
            lambda h: h["pipeline"].update(posterior="gaussian")),
        neg("meta-not-map", "meta given as an array", lambda h: h.update(meta=[1, 2])),
        neg("provenance-not-map", "provenance given as a string", lambda h: h.update(provenance="codecframe")),
        neg("group-name-repeated", "the second group named like the first", lambda h: h["groups"][1].update(
            name=h["groups"][0]["name"]), features=("group-record",)),
        neg("group-missing-key", "a group record without 'side'", _without(("groups", 0), "side"),
            features=("group-record",)),
        neg("group-shape-33-dims", "a group shape of 33 dimensions (same element count)",
            lambda h: h["groups"][0].update(shape=[h["groups"][0]["count"]] + [1] * 32), features=("group-record",)),
        neg("group-count-float", "a group count written as a float", lambda h: h["groups"][0].update(
            count=float(h["groups"][0]["count"])), features=("group-record",)),
        neg("group-setting-not-map", "a group setting given as an array", _group(0, setting=[0.25]),
            features=("group-record",)),
        neg("group-side-not-map", "a group's side info given as an integer", _group(0, side=1),
            features=("group-record",)),
        neg("groups-total-over-limit", "two groups of 2^27 + 1 elements each: every group is within the limit, "
            "their total exceeds 2^28", _two_large_groups, "LimitError", ("declared-size-too-large",)),
        neg("extra-missing-dtype", "an extra record without 'dtype'", _without(("extras", 0), "dtype"),
            features=("extra-record",)),
        neg("extra-bad-dtype", "an extra dtype that is not a container dtype ('complex128')",
            lambda h: h["extras"][0].update(dtype="complex128"), features=("extra-record",)),
    ]


#: The core cases, positives first (negatives derive from stored positives).
CASES: list[Case] = [*_positive_core(), *_negative_core(), *_parametric(), *_configs(), *_encodings(), *_header_rules()]
