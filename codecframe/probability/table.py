"""``ProbabilityModel``: a table of integer CDFs, one row per model (``specs/range-coder.md`` §4–5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import EncodeError, FormatError, InputError, LimitError
from .apportion import MAX_COUNT_SUM, apportion_rows, pmf_to_counts

__all__ = [
    "ProbabilityModel",
    "MIN_PRECISION",
    "MAX_PRECISION",
    "MAX_ALPHABET",
    "MAX_MODELS",
    "MAX_TABLE_ENTRIES",
    "check_precision",
]

MIN_PRECISION = 12
MAX_PRECISION = 24
#: Most symbols in one model (and never more than ``2^precision``).
MAX_ALPHABET = 1 << 16
#: Most rows in one table.
MAX_MODELS = 1 << 20
#: Most entries ``M * (A_max + 1)`` of one CDF table (64 MiB of uint32).
MAX_TABLE_ENTRIES = 1 << 24

_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1
_SIDE_KEYS = ("freq_minus_1", "offsets", "precision", "sizes")


def check_precision(precision: Any, error: type[Exception] = InputError) -> int:
    """Return ``precision`` as int if it is an integer in 12..24, else raise ``error``."""
    if isinstance(precision, (bool, np.bool_)) or not isinstance(precision, (int, np.integer)):
        raise error(f"precision must be an integer in {MIN_PRECISION}..{MAX_PRECISION}, got {precision!r}")
    if not MIN_PRECISION <= int(precision) <= MAX_PRECISION:
        raise error(f"precision must be in {MIN_PRECISION}..{MAX_PRECISION}, got {precision}")
    return int(precision)


def _int_array(values: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim not in ndim:
        raise InputError(f"{name} must have {' or '.join(map(str, ndim))} dimension(s), got shape {arr.shape}")
    return arr


def _per_model(values: Any, m: int, name: str) -> np.ndarray:
    """An int64 (M,) array from a scalar or a length-M integer array."""
    arr = _int_array(values, name, (0, 1))
    if arr.ndim == 0:
        arr = np.full(m, int(arr), np.int64)
    elif arr.shape != (m,):
        raise InputError(f"{name} must be a scalar or have shape ({m},), got {arr.shape}")
    return arr.astype(np.int64)


def _rows(values: np.ndarray, name: str, extra: int = 0) -> np.ndarray:
    """``values`` as 2-D (M, A + extra) within the table limits."""
    if values.ndim == 1:
        values = values[None, :]
    m, a = values.shape[0], values.shape[1] - extra
    if m < 1 or a < 1:
        raise InputError(f"{name} must have at least one model and one symbol, got shape {values.shape}")
    if m > MAX_MODELS:
        raise InputError(f"{name} has {m} models, more than the limit of {MAX_MODELS}")
    if a > MAX_ALPHABET:
        raise InputError(f"{name} has {a} symbols per model, more than the limit of {MAX_ALPHABET}")
    if m * (a + 1) > MAX_TABLE_ENTRIES:
        raise InputError(f"{name} of shape {values.shape} exceeds the table limit of {MAX_TABLE_ENTRIES} entries")
    return values


def _sizes_for(sizes: Any, m: int, a: int, total: int, name: str) -> np.ndarray:
    sz = np.full(m, a, np.int64) if sizes is None else _per_model(sizes, m, "sizes")
    if np.any(sz < 1) or np.any(sz > a):
        raise InputError(f"sizes must be in 1..{a} (the width of {name}), got {sz.min()}..{sz.max()}")
    if np.any(sz > total):
        raise InputError(f"a model of {int(sz.max())} symbols cannot give every symbol a frequency at {total} total")
    return sz


class ProbabilityModel:
    """Integer CDF tables: ``cdf`` uint32 (M, A_max+1), ``sizes`` int32 (M,), ``offsets`` int32 (M,).

    Row ``m`` models the symbols ``offsets[m] .. offsets[m] + sizes[m] - 1``; symbol ``offsets[m] + k``
    has frequency ``cdf[m, k+1] - cdf[m, k] >= 1`` out of ``2^precision``. Entries past a row's
    size equal ``2^precision``. Validated on construction; the arrays are read-only.
    """

    kind: ClassVar[str] = "table"
    __slots__ = ("cdf", "sizes", "offsets", "precision")

    cdf: np.ndarray
    sizes: np.ndarray
    offsets: np.ndarray
    precision: int

    def __init__(self, cdf: Any, sizes: Any = None, offsets: Any = 0, precision: int = 16) -> None:
        precision = check_precision(precision)
        total = 1 << precision
        table = _rows(_int_array(cdf, "cdf", (1, 2)), "cdf", extra=1)
        m, width = table.shape
        table = table.astype(np.int64)
        sz = _sizes_for(sizes, m, width - 1, total, "cdf rows minus one")
        off = _per_model(offsets, m, "offsets")
        if np.any(off < _INT32_MIN) or np.any(off + sz - 1 > _INT32_MAX):
            raise InputError("offsets put some symbol values outside the int32 range")
        cols = np.arange(width)[None, :]
        inside = cols <= sz[:, None]
        if np.any(table[:, 0] != 0):
            raise InputError(f"cdf[m, 0] must be 0 (model {int(np.argmax(table[:, 0] != 0))})")
        ends = table[np.arange(m), sz]
        if np.any(ends != total):
            bad = int(np.argmax(ends != total))
            raise InputError(f"cdf[{bad}, sizes[{bad}]] must equal 2^{precision} = {total}, got {int(ends[bad])}")
        steps = np.diff(table, axis=1)
        bad_step = (steps < 1) & inside[:, 1:]
        if np.any(bad_step):
            row, col = np.argwhere(bad_step)[0]
            raise InputError(f"cdf must increase strictly: model {row}, symbol index {col} has frequency {steps[row, col]}")
        if np.any((table != total) & ~inside):
            raise InputError(f"cdf entries past a model's size must equal 2^{precision}")
        self._set(table.astype(np.uint32), sz.astype(np.int32), off.astype(np.int32), precision)

    def _set(self, cdf: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, precision: int) -> None:
        for arr in (cdf, sizes, offsets):
            arr.flags.writeable = False
        object.__setattr__(self, "cdf", cdf)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "precision", precision)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ProbabilityModel is immutable")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_freqs(cls, freqs: Any, precision: int = 16, offsets: Any = 0, sizes: Any = None) -> ProbabilityModel:
        """From frequencies (A,) or (M, A) that sum to ``2^precision`` per row (entries past ``sizes`` ignored)."""
        f = _rows(_int_array(freqs, "freqs", (1, 2)), "freqs").astype(np.int64)
        precision = check_precision(precision)
        sz = _sizes_for(sizes, f.shape[0], f.shape[1], 1 << precision, "freqs")
        f = np.where(np.arange(f.shape[1])[None, :] < sz[:, None], f, 0)
        cdf = np.zeros((f.shape[0], f.shape[1] + 1), np.int64)
        np.cumsum(f, axis=1, out=cdf[:, 1:])
        cdf = np.where(np.arange(f.shape[1] + 1)[None, :] > sz[:, None], 1 << precision, cdf)
        return cls(cdf, sz, offsets, precision)

    @classmethod
    def from_counts(cls, counts: Any, precision: int = 16, offsets: Any = 0, sizes: Any = None) -> ProbabilityModel:
        """From non-negative integer counts (A,) or (M, A) by the spec's apportionment (§5.1).

        Every symbol gets frequency >= 1; a row of zeros becomes uniform. ``sizes`` (optional)
        limits row ``m`` to its first ``sizes[m]`` counts. Row sums must stay below 2^37.
        """
        c = _rows(_int_array(counts, "counts", (1, 2)), "counts")
        precision = check_precision(precision)
        total = 1 << precision
        sz = _sizes_for(sizes, c.shape[0], c.shape[1], total, "counts")
        mask = np.arange(c.shape[1])[None, :] < sz[:, None]
        if np.any((c < 0) & mask):
            raise InputError("counts must be non-negative")
        if c.dtype == np.uint64 and np.any(c > MAX_COUNT_SUM):
            raise InputError(f"counts must sum to at most {MAX_COUNT_SUM} per model")
        c = np.where(mask, c.astype(np.int64), 0)
        if np.any(c > MAX_COUNT_SUM) or np.any(c.sum(axis=1) > MAX_COUNT_SUM):
            raise InputError(f"counts must sum to at most {MAX_COUNT_SUM} per model")
        return cls.from_freqs(apportion_rows(c, sz, total), precision, offsets, sz)

    @classmethod
    def from_pmf(cls, pmf: Any, precision: int = 16, offsets: Any = 0, sizes: Any = None) -> ProbabilityModel:
        """From a float PMF (A,) or (M, A): counts ``floor(p / sum * 2^36 + 0.5)``, then :meth:`from_counts`.

        Rows need not be normalised but must be finite, non-negative, with a positive sum.
        """
        p = np.asarray(pmf)
        if not (np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)) or p.dtype == np.bool_:
            raise InputError(f"pmf must be a real array, got dtype {p.dtype}")
        if p.ndim not in (1, 2):
            raise InputError(f"pmf must have 1 or 2 dimensions, got shape {p.shape}")
        p = _rows(p.astype(np.float64), "pmf")
        precision = check_precision(precision)
        sz = _sizes_for(sizes, p.shape[0], p.shape[1], 1 << precision, "pmf")
        p = np.where(np.arange(p.shape[1])[None, :] < sz[:, None], p, 0.0)
        if not np.all(np.isfinite(p)):
            raise InputError("pmf must be finite")
        if np.any(p < 0):
            raise InputError("pmf must be non-negative")
        with np.errstate(over="ignore"):
            sums = np.cumsum(p, axis=1)[:, -1]  # sequential, as the spec's sum is
        if np.any(sums <= 0) or not np.all(np.isfinite(sums)):
            raise InputError("every pmf row must have a positive, finite sum")
        return cls.from_counts(pmf_to_counts(np.ascontiguousarray(p), sz), precision, offsets, sz)

    # ------------------------------------------------------------------ properties
    @property
    def num_models(self) -> int:
        return int(self.cdf.shape[0])

    @property
    def max_size(self) -> int:
        """``A_max``: the widest row's number of symbols."""
        return int(self.cdf.shape[1] - 1)

    @property
    def freqs(self) -> np.ndarray:
        """Frequencies (M, A_max) as int64; zero past each row's size."""
        return np.diff(self.cdf.astype(np.int64), axis=1)

    def row(self, m: int) -> ProbabilityModel:
        """Model ``m`` alone, as a one-row table."""
        if not 0 <= m < self.num_models:
            raise InputError(f"model index {m} is outside 0..{self.num_models - 1}")
        size = int(self.sizes[m])
        return ProbabilityModel(self.cdf[m, : size + 1], size, int(self.offsets[m]), self.precision)

    # ------------------------------------------------------------------ information
    def check_indexes(self, indexes: np.ndarray | None, count: int) -> np.ndarray:
        """``indexes`` as a C-contiguous int32 (count,) array within 0..M-1 (zeros when None and M == 1)."""
        if indexes is None:
            if self.num_models != 1:
                raise InputError(f"a table of {self.num_models} models needs per-symbol indexes")
            return np.zeros(count, np.int32)
        idx = np.asarray(indexes)
        if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
            raise InputError(f"indexes must be an integer array, got dtype {idx.dtype}")
        if idx.shape != (count,):
            raise InputError(f"indexes must have shape ({count},), got {idx.shape}")
        if count:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.num_models:
                pos = int(np.argmax((idx < 0) | (idx >= self.num_models)))
                raise InputError(f"indexes[{pos}] = {int(idx[pos])} is outside 0..{self.num_models - 1}")
        return np.ascontiguousarray(idx, dtype=np.int32)

    def information(self, symbols: np.ndarray, indexes: np.ndarray | None = None) -> float:
        """Ideal code length of ``symbols`` in bits: sum of ``precision - log2(freq)``."""
        sym = np.asarray(symbols)
        if sym.dtype == np.bool_ or not np.issubdtype(sym.dtype, np.integer) or sym.ndim != 1:
            raise InputError(f"symbols must be a 1-D integer array, got {sym.dtype} of shape {sym.shape}")
        idx = self.check_indexes(indexes, sym.shape[0])
        pos = sym.astype(np.int64) - self.offsets[idx]
        outside = (pos < 0) | (pos >= self.sizes[idx])
        if np.any(outside):
            i = int(np.argmax(outside))
            m = int(idx[i])
            lo, hi = int(self.offsets[m]), int(self.offsets[m]) + int(self.sizes[m]) - 1
            raise EncodeError(f"symbol {int(sym[i])} at position {i} is outside model {m}'s support {lo}..{hi}")
        freq = self.cdf[idx, pos + 1].astype(np.int64) - self.cdf[idx, pos]
        return float(np.sum(self.precision - np.log2(freq.astype(np.float64))))

    # ------------------------------------------------------------------ side info
    def to_side(self) -> dict[str, Any]:
        """Canonical side-info form: frequencies minus one, concatenated row by row (§5.3)."""
        mask = np.arange(self.max_size)[None, :] < self.sizes[:, None]
        dtype = np.uint16 if self.precision <= 16 else np.uint32
        return {
            "precision": self.precision,
            "sizes": self.sizes.copy(),
            "offsets": self.offsets.copy(),
            "freq_minus_1": (self.freqs[mask] - 1).astype(dtype),
        }

    @classmethod
    def from_side(cls, side: Mapping[str, Any]) -> ProbabilityModel:
        """Inverse of :meth:`to_side`; malformed side info raises FormatError (LimitError past limits)."""
        if not isinstance(side, Mapping) or sorted(side) != list(_SIDE_KEYS):
            keys = sorted(side) if isinstance(side, Mapping) else type(side).__name__
            raise FormatError(f"probability table side info must have keys {list(_SIDE_KEYS)}, got {keys}")
        try:
            precision = check_precision(side["precision"], FormatError)
        except FormatError as exc:
            raise FormatError(f"probability table side info: {exc}") from None
        sizes, offsets, fm1 = side["sizes"], side["offsets"], side["freq_minus_1"]
        want = np.uint16 if precision <= 16 else np.uint32
        for name, arr, dtype in (("sizes", sizes, np.int32), ("offsets", offsets, np.int32), ("freq_minus_1", fm1, want)):
            if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != 1:
                raise FormatError(f"probability table side info: {name} must be a 1-D {np.dtype(dtype).name} array")
        m = sizes.shape[0]
        if m < 1 or m > MAX_MODELS or offsets.shape != (m,):
            raise LimitError(f"probability table side info: {m} models with {offsets.shape[0]} offsets")
        if np.any(sizes < 1) or np.any(sizes > min(MAX_ALPHABET, 1 << precision)):
            raise FormatError("probability table side info: a model size is out of range")
        a_max = int(sizes.max())
        if m * (a_max + 1) > MAX_TABLE_ENTRIES:
            raise LimitError(f"probability table side info: {m} x {a_max + 1} entries exceed the limit")
        if fm1.shape[0] != int(sizes.astype(np.int64).sum()):
            raise FormatError("probability table side info: freq_minus_1 length does not match sizes")
        freqs = np.zeros((m, a_max), np.int64)
        freqs[np.arange(a_max)[None, :] < sizes[:, None]] = fm1.astype(np.int64) + 1
        sums = freqs.sum(axis=1)
        if np.any(sums != 1 << precision):
            raise FormatError(f"probability table side info: frequencies do not sum to 2^{precision}")
        try:
            return cls.from_freqs(freqs, precision, offsets, sizes)
        except InputError as exc:
            raise FormatError(f"probability table side info: {exc}") from None

    # ------------------------------------------------------------------ misc
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProbabilityModel):
            return NotImplemented
        return (
            self.precision == other.precision
            and np.array_equal(self.cdf, other.cdf)
            and np.array_equal(self.sizes, other.sizes)
            and np.array_equal(self.offsets, other.offsets)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ProbabilityModel(models={self.num_models}, max_size={self.max_size}, "
            f"precision={self.precision})"
        )
