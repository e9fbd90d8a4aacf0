"""BayesQ's quantizers (``codecframe.quantizers``): per-row codebooks chosen under the posterior.

A group is a weight matrix (rows = output channels; a 1-D group is one row). Row ``r`` is coded at
``bits[r]`` with levels ``zero[r] + scale[r]·levels_b[k]``, ``k = 0..2^b - 1``:

- ``bayesq-grid``: uniform grids, ``levels_b[k] = k`` (so ``scale`` is the step); step and offset
  searched to minimise posterior-expected whitened distortion (:func:`~.codebooks.design_grids`).
- ``bayesq-lloyd``: one normalised non-uniform codebook per width and group, learned by Lloyd–Max
  in whitened space (:func:`~.codebooks.design_codebooks`) and stored in the side info; or, with
  ``table="sha256:..."``, the fixed N(0, 1) Lloyd–Max levels of a shipped asset (nothing stored).
  Widths above ``max_nonuniform_bits`` use uniform levels ``-1 + 2k/(2^b - 1)``.

Setting: ``{"bits": b}`` or ``{"bits": [b_0, ..., b_{R-1}]}`` (per row). Side info (canonical
msgpack, normative in ``specs/bayesq.md``): ``scale``/``zero`` float16 arrays (float32 when float16
cannot hold them), ``levels`` (``bayesq-lloyd``: float32 codebook per non-uniform width, ascending
widths), ``counts`` (per width in ascending order: symbol counts, or an empty list for a flat model).
Symbols are the level indices in row-major order; each width has its own frequency table.
"""

from __future__ import annotations

import abc
import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codecframe import canonical
from codecframe.assets import parse_ref
from codecframe.abc import HasStd, Posterior, Quantizer
from codecframe.errors import ConfigError, InputError
from codecframe.probability import ProbabilityModel
from codecframe.types import Quantized, RateOption

from .codebooks import DEFAULT_SHRINKS, CodebookDesign, GridDesign, design_codebooks, design_grids, minmax_grids

__all__ = ["LayerCode", "GridQuantizer", "LloydQuantizer", "MIN_BITS", "MAX_BITS"]

MIN_BITS, MAX_BITS = 1, 8
_F16_MIN_NORMAL, _F16_MAX = 2.0 ** -14, 65504.0


@dataclasses.dataclass
class LayerCode:
    """A coded weight matrix: per-row ``bits``, ``scale``, ``zero`` (R,), normalised ``levels`` per width, ``codes`` (R, C)."""

    bits: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    levels: dict[int, np.ndarray]
    codes: np.ndarray | None = None

    def values(self) -> np.ndarray:
        """Reconstruction ``zero + scale·levels[code]`` in float64 (row by row, plain IEEE ops)."""
        out = np.empty(self.codes.shape, np.float64)
        for b in np.unique(self.bits):
            rows = self.bits == b
            lv = np.asarray(self.levels[int(b)], np.float64)
            out[rows] = self.zero[rows, None].astype(np.float64) + self.scale[rows, None].astype(np.float64) * lv[self.codes[rows]]
        return out

    def assign(self, mean: np.ndarray) -> None:
        """Set ``codes`` to the nearest level of each row (ties to the lower level)."""
        codes = np.empty(mean.shape, np.int32)
        for b in np.unique(self.bits):
            rows = self.bits == b
            lv = np.asarray(self.levels[int(b)], np.float64)
            cur = self.zero[rows, None].astype(np.float64) + self.scale[rows, None].astype(np.float64) * lv[None, :]
            codes[rows] = _nearest(mean[rows], cur)
        self.codes = codes


def _nearest(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per row, the index of the nearest of the (ascending) ``levels`` row (ties to the lower): the
    number of midpoints below the value."""
    mids = 0.5 * (levels[:, 1:] + levels[:, :-1])
    n = mids.shape[1]
    if n <= 8:  # few levels: count them all at once
        return (x[:, :, None] > mids[:, None, :]).sum(-1).astype(np.int32)
    # guess from each row's mean spacing, then move to the exact count: mids[k-1] < x <= mids[k]
    span = (mids[:, -1] - mids[:, 0]) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.where(span[:, None] > 0, (x - mids[:, :1]) / span[:, None] + 1.0, 0.0)
    k = np.clip(np.nan_to_num(np.ceil(guess)), 0, n).astype(np.int64)
    for _ in range(n + 1):
        down = (k > 0) & (x <= np.take_along_axis(mids, np.maximum(k - 1, 0), 1))
        up = (k < n) & (x > np.take_along_axis(mids, np.minimum(k, n - 1), 1))
        if not (down.any() or up.any()):
            break
        k += up.astype(np.int64) - down.astype(np.int64)
    return k.astype(np.int32)


def _uniform_levels(bits: int, centred: bool) -> np.ndarray:
    n = 1 << bits
    k = np.arange(n, dtype=np.float64)
    return -1.0 + 2.0 * k / (n - 1) if centred else k


def _side_array(values: np.ndarray) -> np.ndarray:
    """float16 when every value is representable as a normal float16 (or zero), else float32."""
    v = np.asarray(values, np.float64)
    small = np.abs(v)[v != 0]
    if small.size == 0 or (small.min() >= _F16_MIN_NORMAL and small.max() <= _F16_MAX):
        return v.astype(np.float16)
    return v.astype(np.float32)


def _as_rows(posterior: Posterior, where: str) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(posterior.mean, np.float64)  # type: ignore[attr-defined]
    std = np.asarray(posterior.std, np.float64)  # type: ignore[attr-defined]
    if mean.size == 0:
        raise InputError(f"{where}: cannot quantize an empty group")
    rows = mean.shape[0] if mean.ndim >= 2 else 1
    return mean.reshape(rows, -1), std.reshape(rows, -1)


class _RowQuantizer(Quantizer):
    """Shared machinery: settings, pinned designs, side info, symbol models, dequantization."""

    requires = (HasStd,)
    centred_levels = False
    #: Whether each row's design depends on that row only (then rows can be designed on demand).
    row_wise = False

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._pinned: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ settings
    def settings(self) -> list[dict[str, Any]]:
        return [{"bits": int(b)} for b in self.config.allowed_bits]

    def default_setting(self) -> dict[str, Any]:
        return {"bits": int(self.config.bits)}

    def _row_bits(self, setting: Mapping[str, Any], rows: int) -> np.ndarray:
        if not isinstance(setting, Mapping) or set(setting) != {"bits"}:
            raise ConfigError(f"{self.describe()}: setting must be {{'bits': b}} or {{'bits': [b per row]}}, got {setting!r}")
        bits = setting["bits"]
        values = list(bits) if isinstance(bits, (list, tuple)) else [bits] * rows
        if len(values) != rows:
            raise ConfigError(f"{self.describe()}: per-row bits must have {rows} entries, got {len(values)}")
        if not all(isinstance(b, (int, np.integer)) and not isinstance(b, (bool, np.bool_)) for b in values):
            raise ConfigError(f"{self.describe()}: bits must be integers, got {bits!r}")
        arr = np.array([int(b) if -2**62 < int(b) < 2**62 else 0 for b in values], np.int64)
        if arr.size and (arr.min() < MIN_BITS or arr.max() > MAX_BITS):
            raise ConfigError(f"{self.describe()}: bits must be in {MIN_BITS}..{MAX_BITS}, got {arr.min()}..{arr.max()}")
        return arr

    @staticmethod
    def _setting_of(bits: np.ndarray) -> dict[str, Any]:
        return {"bits": int(bits[0])} if np.all(bits == bits[0]) else {"bits": [int(b) for b in bits]}

    # ------------------------------------------------------------------ designs
    def pin(self, posterior: Posterior, code: LayerCode) -> None:
        """Fix the code used for ``posterior`` (the per-row knapsack, GPTQ rounding, distillation)."""
        self._pinned[posterior] = code

    @abc.abstractmethod
    def design(self, mean: np.ndarray, std: np.ndarray, bits: int) -> GridDesign | CodebookDesign:
        """The width-``bits`` design of every row."""

    def designs(self, posterior: Posterior, bits: int, rows: np.ndarray | None = None) -> GridDesign | CodebookDesign:
        """Cached :meth:`design` for a posterior.

        ``rows`` (indices): only these rows need a design; quantizers whose rows are designed
        independently (``row_wise``) then leave the other rows NaN until they are asked for.
        """
        per = self._cache.setdefault(posterior, {})
        design, missing = per.get(bits, (None, None))
        if design is not None and missing is None:
            return design
        mean, std = _as_rows(posterior, self.describe())
        if not self.row_wise or (design is None and rows is None):
            design = self.design(mean, std, bits)
            per[bits] = (design, None)
            return design
        if design is None:
            nan = np.full(mean.shape[0], np.nan)
            design, missing = GridDesign(bits, nan.copy(), nan.copy(), nan.copy()), np.ones(mean.shape[0], bool)
        want = np.flatnonzero(missing) if rows is None else np.asarray(rows, np.int64)[missing[rows]]
        if want.size:
            part = self.design(mean[want], std[want], bits)
            design.step[want], design.zero[want], design.dist[want] = part.step, part.zero, part.dist
            missing[want] = False
        per[bits] = (design, missing if missing.any() else None)
        return design

    def levels_for(self, design: GridDesign | CodebookDesign) -> np.ndarray:
        return design.levels if isinstance(design, CodebookDesign) else _uniform_levels(design.bits, self.centred_levels)

    def code_for(self, posterior: Posterior, bits: np.ndarray) -> LayerCode:
        """Assemble a :class:`LayerCode` from the per-width designs (rounded to the stored precision)."""
        mean, _ = _as_rows(posterior, self.describe())
        rows = mean.shape[0]
        scale, zero, levels = np.empty(rows), np.empty(rows), {}
        for b in np.unique(bits):
            sel = bits == b
            d = self.designs(posterior, int(b), np.flatnonzero(sel))
            scale[sel] = d.scale[sel] if isinstance(d, CodebookDesign) else d.step[sel]
            zero[sel] = d.zero[sel]
            levels[int(b)] = self.levels_for(d)
        code = LayerCode(bits.copy(), scale, zero, levels)
        return self.rounded(code, mean)

    def rounded(self, code: LayerCode, mean: np.ndarray | None) -> LayerCode:
        """``code`` with scale/zero/levels at their stored precision; codes re-assigned from ``mean`` if given."""
        scale, zero = _side_array(code.scale), _side_array(code.zero)
        if scale.dtype != zero.dtype:
            scale, zero = code.scale.astype(np.float32), code.zero.astype(np.float32)
        levels = {b: (np.asarray(v, np.float32) if self._stores_levels(b) else np.asarray(v, np.float64))
                  for b, v in code.levels.items()}
        out = LayerCode(code.bits.copy(), scale, zero, levels, None if code.codes is None else code.codes.copy())
        if mean is not None:
            out.assign(mean)
        return out

    def _stores_levels(self, bits: int) -> bool:
        return False

    def _fixed_levels(self, bits: int) -> np.ndarray:
        return _uniform_levels(bits, self.centred_levels)

    # ------------------------------------------------------------------ quantize
    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        mean, _ = _as_rows(posterior, self.describe())
        bits = self._row_bits(setting, mean.shape[0])
        code = self._pinned.get(posterior)
        if code is not None:
            if not np.array_equal(code.bits, bits) or code.codes is None or code.codes.shape != mean.shape:
                raise InputError(f"{self.describe()}: the pinned code does not match the setting or the group shape")
            code = self.rounded(code, None)
        else:
            code = self.code_for(posterior, bits)
        symbols = code.codes.ravel().astype(np.int32)
        if np.any(symbols < 0) or np.any(symbols >= (1 << np.repeat(bits, mean.shape[1]))):
            raise InputError(f"{self.describe()}: codes outside their rows' level range")
        side: dict[str, Any] = {"scale": code.scale, "zero": code.zero}
        widths = sorted(int(b) for b in np.unique(bits))
        if any(self._stores_levels(b) for b in widths):
            side["levels"] = [code.levels[b].astype(np.float32) for b in widths if self._stores_levels(b)]
        side["counts"] = self._counts(symbols, np.repeat(bits, mean.shape[1]), widths)
        dtype = np.asarray(posterior.mean).dtype.name  # type: ignore[attr-defined]
        return Quantized(symbols, self._setting_of(bits), side, tuple(np.shape(posterior.mean)), dtype)  # type: ignore[attr-defined]

    def _counts(self, symbols: np.ndarray, sym_bits: np.ndarray, widths: list[int]) -> list[list[int]]:
        """Per width: the symbol counts, or [] where a flat model codes the width's symbols more cheaply."""
        out = []
        for b in widths:
            s = symbols[sym_bits == b]
            counts = np.bincount(s, minlength=1 << b)
            n = s.size
            adaptive = ProbabilityModel.from_counts(counts, precision=16).information(s) + 8 * len(canonical.pack([int(c) for c in counts]))
            out.append([int(c) for c in counts] if adaptive < n * b else [])
        return out

    # ------------------------------------------------------------------ decode side
    def _side(self, q: Quantized) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int], dict[int, np.ndarray], list]:
        where = self.describe()
        shape = tuple(q.shape)
        if len(shape) == 0:
            raise InputError(f"{where}: a group must have at least one dimension")
        rows = shape[0] if len(shape) >= 2 else 1
        bits = self._row_bits(q.setting, rows)
        expected = {"scale", "zero", "counts"} | ({"levels"} if any(self._stores_levels(int(b)) for b in np.unique(bits)) else set())
        if set(q.side) != expected:
            raise InputError(f"{where}: side info must have exactly {sorted(expected)}, got {sorted(q.side)}")
        scale, zero = q.side["scale"], q.side["zero"]
        for name, arr in (("scale", scale), ("zero", zero)):
            if not isinstance(arr, np.ndarray) or arr.dtype not in (np.float16, np.float32) or arr.shape != (rows,):
                raise InputError(f"{where}: side info {name!r} must be a float16/float32 array of {rows} entries")
            if not np.all(np.isfinite(arr)):
                raise InputError(f"{where}: side info {name!r} is not finite")
        if scale.dtype != zero.dtype:
            raise InputError(f"{where}: side info 'scale' and 'zero' must have the same dtype")
        widths = sorted(int(b) for b in np.unique(bits))
        levels: dict[int, np.ndarray] = {}
        stored = [b for b in widths if self._stores_levels(b)]
        if stored:
            lv = q.side["levels"]
            if not isinstance(lv, list) or len(lv) != len(stored):
                raise InputError(f"{where}: side info 'levels' must list one codebook per non-uniform width")
            for b, arr in zip(stored, lv):
                if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.shape != (1 << b,) \
                        or not np.all(np.isfinite(arr)):
                    raise InputError(f"{where}: codebook for {b} bits must be {1 << b} finite float32 values")
                levels[b] = arr
        for b in widths:
            if b not in levels:
                levels[b] = self._fixed_levels(b)
        counts = q.side["counts"]
        if not isinstance(counts, list) or len(counts) != len(widths):
            raise InputError(f"{where}: side info 'counts' must have one entry per width ({len(widths)})")
        for b, c in zip(widths, counts):
            if not isinstance(c, list) or (c and (len(c) != 1 << b or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 40 for v in c))):
                raise InputError(f"{where}: counts for {b} bits must be empty or {1 << b} non-negative integers")
        return bits, scale, zero, widths, levels, counts

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, np.ndarray | None]:
        bits, _, _, widths, _, counts = self._side(q)
        cols = int(np.prod(q.shape, dtype=np.int64)) // len(bits)
        table = np.zeros((len(widths), 1 << max(widths)), np.int64)
        for i, c in enumerate(counts):
            if c:
                table[i, :len(c)] = c
        model = ProbabilityModel.from_counts(table, precision=precision, sizes=[1 << b for b in widths])
        if len(widths) == 1:
            return model, None
        index_of = {b: i for i, b in enumerate(widths)}
        return model, np.repeat(np.array([index_of[int(b)] for b in bits], np.int32), cols)

    def dequantize(self, q: Quantized) -> np.ndarray:
        bits, scale, zero, _, levels, _ = self._side(q)
        rows = len(bits)
        codes = np.asarray(q.symbols)
        if codes.size != int(np.prod(q.shape, dtype=np.int64)):
            raise InputError(f"{self.describe()}: {codes.size} symbols for a group of shape {tuple(q.shape)}")
        codes = codes.reshape(rows, -1)
        if np.any(codes < 0) or np.any(codes >= (1 << bits)[:, None]):
            raise InputError(f"{self.describe()}: a symbol is outside its row's level range")
        code = LayerCode(bits, scale, zero, levels, codes)
        return code.values().astype(q.dtype).reshape(q.shape)

    # ------------------------------------------------------------------ estimates
    def distortion(self, posterior: Posterior, reconstruction: np.ndarray) -> float:
        """Whitened squared error ``Σ (x̂ - mean)² / std²`` of a reconstruction."""
        mean, std = _as_rows(posterior, self.describe())
        diff = (np.asarray(reconstruction, np.float64).reshape(mean.shape) - mean) / std
        return float(np.sum(diff * diff))

    def estimate(self, posterior: Posterior, setting: Mapping[str, Any], precision: int) -> RateOption:
        """Rate as the base class computes it; distortion = the design's posterior-expected whitened distortion."""
        q = self.quantize(posterior, setting)
        model, indexes = self.symbol_model(q, precision)
        bits = model.information(q.symbols, indexes) + 8.0 * q.side_nbytes()
        row_bits = self._row_bits(setting, q.side["scale"].shape[0])
        dist = sum(float(self.designs(posterior, int(b)).dist[row_bits == b].sum()) for b in np.unique(row_bits))
        return RateOption(dict(q.setting), bits, dist)

    def row_distortions(self, posterior: Posterior, widths: Sequence[int]) -> np.ndarray:
        """Posterior-expected whitened distortion per row (R, len(widths)) for the knapsack."""
        return np.stack([self.designs(posterior, int(b)).dist for b in widths], axis=1)


def _check_bits_config(cfg: Any, where: str) -> None:
    if not cfg.allowed_bits or any(isinstance(b, bool) or not MIN_BITS <= b <= MAX_BITS for b in cfg.allowed_bits):
        raise ConfigError(f"{where}: allowed_bits must be integers in {MIN_BITS}..{MAX_BITS}")
    if not MIN_BITS <= cfg.bits <= MAX_BITS:
        raise ConfigError(f"{where}: bits must be in {MIN_BITS}..{MAX_BITS}, got {cfg.bits}")


class GridQuantizer(_RowQuantizer):
    """Uniform per-row grids with step and offset searched under the posterior (``search="expected"``),
    or min–max grids (``search="minmax"``, the round-to-nearest grid)."""

    id = "bayesq-grid"
    row_wise = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        bits: int = 4
        allowed_bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
        search: str = "expected"
        shrinks: tuple[float, ...] = DEFAULT_SHRINKS
        lloyd_iters: int = 1

        def __post_init__(self) -> None:
            where = "quantizer 'bayesq-grid'"
            _check_bits_config(self, where)
            if self.search not in ("expected", "minmax"):
                raise ConfigError(f"{where}: search must be 'expected' or 'minmax', got {self.search!r}")
            if not self.shrinks or any(not 0 < p <= 1.5 for p in self.shrinks):
                raise ConfigError(f"{where}: shrinks must be a non-empty list of fractions in (0, 1.5]")
            if not 0 <= self.lloyd_iters <= 100:
                raise ConfigError(f"{where}: lloyd_iters must be in 0..100")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"bits": 2, "search": "minmax"}]

    def design(self, mean: np.ndarray, std: np.ndarray, bits: int) -> GridDesign:
        if self.config.search == "minmax":
            return minmax_grids(mean, std, bits)
        return design_grids(mean, std, bits, self.config.shrinks, self.config.lloyd_iters)


class LloydQuantizer(_RowQuantizer):
    """Non-uniform levels: one Lloyd–Max codebook per width and group (whitened, precision-weighted),
    per-row scale and offset; widths above ``max_nonuniform_bits`` use uniform levels."""

    id = "bayesq-lloyd"
    centred_levels = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        bits: int = 4
        allowed_bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
        max_nonuniform_bits: int = 4
        iterations: int = 4
        table: str | None = None

        def __post_init__(self) -> None:
            where = "quantizer 'bayesq-lloyd'"
            _check_bits_config(self, where)
            if self.table is not None:
                parse_ref(self.table)
            if not 0 <= self.max_nonuniform_bits <= MAX_BITS:
                raise ConfigError(f"{where}: max_nonuniform_bits must be in 0..{MAX_BITS}")
            if not 0 <= self.iterations <= 100:
                raise ConfigError(f"{where}: iterations must be in 0..100")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        from .tables import shipped_table_ref

        return [{}, {"bits": 3, "max_nonuniform_bits": 2}, {"bits": 2, "table": shipped_table_ref()}]

    def _nonuniform(self, bits: int) -> bool:
        return bits <= self.config.max_nonuniform_bits

    def _stores_levels(self, bits: int) -> bool:
        return self._nonuniform(bits) and self.config.table is None

    def _fixed_levels(self, bits: int) -> np.ndarray:
        """Levels a decoder knows without side info: the asset table's, or uniform in [-1, 1]."""
        if self._nonuniform(bits):
            from .tables import table_levels

            return table_levels(self.config.table)[bits]
        return _uniform_levels(bits, True)

    def design(self, mean: np.ndarray, std: np.ndarray, bits: int) -> GridDesign | CodebookDesign:
        grid = design_grids(mean, std, bits)
        if not self._nonuniform(bits):
            half = 0.5 * grid.step * ((1 << bits) - 1)
            return CodebookDesign(bits, _uniform_levels(bits, True), half, grid.zero + half, grid.dist)
        if self.config.table is not None:
            return design_codebooks(mean, std, bits, grid, self.config.iterations, self._fixed_levels(bits), learn=False)
        return design_codebooks(mean, std, bits, grid, self.config.iterations)
