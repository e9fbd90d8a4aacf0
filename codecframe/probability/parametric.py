"""``ParametricModel``: per-symbol quantized Gaussian/Laplace/logistic models (``specs/range-coder.md`` §6).

Symbol ``i`` uses ``mean[m], scale[m]`` with ``m = indexes[i]`` (or ``m = i`` without indexes)
over the integer support ``lo..hi``. The coders evaluate the integer CDF on the fly, so no
per-symbol table is ever built; with ``escape`` two extra bins code values outside the support.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..errors import EncodeError, FormatError, InputError
from .grids import FAMILIES, GRID_SHAPES, grid
from .kernels import SUB_BITS, inverse_table, param_information
from .table import MAX_ALPHABET, check_precision

__all__ = ["ParametricModel"]

_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1
_SIDE_KEYS = ("escape", "family", "hi", "lo", "mean", "precision", "scale")
_INVERSE = {name: inverse_table(grid(name), *GRID_SHAPES[name]) for name in FAMILIES}


def _params(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{name} must be a real array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}[{int(np.argmax(~np.isfinite(arr)))}] is not finite")
    return arr


def _int32(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not _INT32_MIN <= int(value) <= _INT32_MAX:
        raise InputError(f"{name} = {value} is outside the int32 range")
    return int(value)


class ParametricModel:
    """Quantized continuous family per symbol: bin ``k`` covers ``[k - 1/2, k + 1/2)`` of ``N(mean, scale^2)``
    (or Laplace/logistic with that location and scale), the outer bins absorbing the tails.

    Integer CDF (§6.3): ``F(j) = j + floor(G(x_j) * (2^precision - size) / 2^32)`` for inner edges,
    which gives every bin a frequency of at least 1. ``scale`` may be 0 (treated as ``2^-40``).
    """

    kind: ClassVar[str] = "parametric"
    __slots__ = ("family", "mean", "scale", "lo", "hi", "escape", "precision")

    family: str
    mean: np.ndarray
    scale: np.ndarray
    lo: int
    hi: int
    escape: bool
    precision: int

    def __init__(
        self, family: str, mean: Any, scale: Any, lo: int, hi: int, escape: bool = False, precision: int = 16
    ) -> None:
        if family not in FAMILIES:
            raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
        mu = _params(mean, "mean")
        sc = _params(scale, "scale")
        if sc.shape != mu.shape:
            raise InputError(f"scale has shape {sc.shape} but mean has {mu.shape}")
        if np.any(sc < 0):
            raise InputError(f"scale[{int(np.argmax(sc < 0))}] is negative")
        lo, hi = _int32(lo, "lo"), _int32(hi, "hi")
        if lo > hi:
            raise InputError(f"support lo..hi is empty: {lo}..{hi}")
        if not isinstance(escape, (bool, np.bool_)):
            raise InputError(f"escape must be a boolean, got {escape!r}")
        precision = check_precision(precision)
        size = hi - lo + 1 + (2 if escape else 0)
        if size > min(MAX_ALPHABET + 2, 1 << precision):
            raise InputError(
                f"support of {size} bins exceeds the limit of {min(MAX_ALPHABET + 2, 1 << precision)} "
                f"at precision {precision}"
            )
        for arr in (mu, sc):
            arr.flags.writeable = False
        for name, value in (("family", family), ("mean", mu), ("scale", sc), ("lo", lo), ("hi", hi),
                            ("escape", bool(escape)), ("precision", precision)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ParametricModel is immutable")

    @property
    def num_params(self) -> int:
        """Number of (mean, scale) pairs."""
        return int(self.mean.shape[0])

    @property
    def size(self) -> int:
        """Bins of the integer model: the support plus two escape bins when ``escape``."""
        return self.hi - self.lo + 1 + (2 if self.escape else 0)

    def check_indexes(self, indexes: np.ndarray | None, count: int) -> tuple[np.ndarray, bool]:
        """``(indexes as int32, identity)``: without indexes symbol ``i`` uses parameters ``i``."""
        if indexes is None:
            if count != self.num_params:
                raise InputError(f"{count} symbols but {self.num_params} parameter pairs and no indexes")
            return np.zeros(0, np.int32), True
        idx = np.asarray(indexes)
        if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer) or idx.shape != (count,):
            raise InputError(f"indexes must be an integer array of shape ({count},), got {idx.dtype} {idx.shape}")
        if count and (idx.min() < 0 or idx.max() >= self.num_params):
            pos = int(np.argmax((idx < 0) | (idx >= self.num_params)))
            raise InputError(f"indexes[{pos}] = {int(idx[pos])} is outside 0..{self.num_params - 1}")
        return np.ascontiguousarray(idx, dtype=np.int32), False

    def kernel_args(self) -> tuple[Any, ...]:
        """``(mean, scale, lo, hi, escape, precision, grid, bound, mul)`` for the jitted loops."""
        bound, shift = GRID_SHAPES[self.family]
        return (self.mean, self.scale, self.lo, self.hi, self.escape, self.precision,
                grid(self.family), float(bound), float(1 << (shift + SUB_BITS)))

    def inverse(self) -> np.ndarray:
        """Approximate standard quantiles for the decoder's starting guesses."""
        return _INVERSE[self.family]

    def information(self, symbols: np.ndarray, indexes: np.ndarray | None = None) -> float:
        """Ideal code length in bits under the integer model, escape payloads included."""
        sym = np.asarray(symbols)
        if sym.dtype == np.bool_ or not np.issubdtype(sym.dtype, np.integer) or sym.ndim != 1:
            raise InputError(f"symbols must be a 1-D integer array, got {sym.dtype} of shape {sym.shape}")
        if sym.size and (sym.min() < _INT32_MIN or sym.max() > _INT32_MAX):
            raise InputError("symbols must fit in int32")
        idx, identity = self.check_indexes(indexes, sym.shape[0])
        bits, err, pos = param_information(
            np.ascontiguousarray(sym, dtype=np.int32), idx, identity, *self.kernel_args()
        )
        if err:
            raise EncodeError(
                f"symbol {int(sym[pos])} at position {pos} is outside the support {self.lo}..{self.hi} (no escape)"
            )
        return float(bits)

    def to_side(self) -> dict[str, Any]:
        """Canonical side-info form (the parameters as float64 arrays)."""
        return {"family": self.family, "mean": self.mean.copy(), "scale": self.scale.copy(), "lo": self.lo,
                "hi": self.hi, "escape": self.escape, "precision": self.precision}

    @classmethod
    def from_side(cls, side: Mapping[str, Any]) -> ParametricModel:
        """Inverse of :meth:`to_side`; malformed side info raises FormatError."""
        if not isinstance(side, Mapping) or sorted(side) != list(_SIDE_KEYS):
            raise FormatError(f"parametric model side info must have keys {list(_SIDE_KEYS)}")
        for name in ("mean", "scale"):
            arr = side[name]
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.ndim != 1:
                raise FormatError(f"parametric model side info: {name} must be a 1-D float64 array")
        try:
            return cls(side["family"], side["mean"], side["scale"], side["lo"], side["hi"], side["escape"],
                       side["precision"])
        except InputError as exc:
            raise FormatError(f"parametric model side info: {exc}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParametricModel):
            return NotImplemented
        return (
            (self.family, self.lo, self.hi, self.escape, self.precision)
            == (other.family, other.lo, other.hi, other.escape, other.precision)
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.scale, other.scale)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"ParametricModel({self.family!r}, params={self.num_params}, support={self.lo}..{self.hi}, "
                f"escape={self.escape}, precision={self.precision})")
