"""The ``vbq`` quantizer: variational Bayesian quantization of Gaussian posteriors (``specs/vbq.md``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codecframe.abc import HasStd, Posterior, Quantizer
from codecframe.assets import asset_ref, load_asset, parse_ref
from codecframe.errors import ConfigError, FormatError, InputError, LimitError
from codecframe.io import atomic_write
from codecframe.probability import MAX_TABLE_ENTRIES, ProbabilityModel
from codecframe.types import Quantized

from .calibration import INFO_KEY, SigmaCalibration
from .fit import DEFAULT_LAMBDAS, fit_tables, length_overhead
from .grid import check_r_max, grid_size, levels
from .prior import knot_points, quantile_knots
from .search import GUIDE_BUCKETS, build_guide, search
from .tables import MAX_COUNT_SUM, VBQTables

__all__ = ["VBQQuantizer", "check_lambda", "load_tables", "use_tables"]

#: Smallest posterior std accepted (the smallest normal float64), so that 1/σ stays finite.
MIN_STD = float(np.finfo(np.float64).tiny)
MAX_KNOTS = 4096
_TABLES: dict[str, VBQTables] = {}


def load_tables(ref: str) -> VBQTables:
    """The tables asset ``ref`` (``sha256:…``), parsed once per process; AssetError if missing or altered."""
    if ref not in _TABLES:
        _TABLES[ref] = VBQTables.from_bytes(load_asset(ref))
    return _TABLES[ref]


def use_tables(tables: VBQTables) -> str:
    """Make in-memory ``tables`` available to this process under their reference (returned)."""
    ref = asset_ref(tables.to_bytes())
    _TABLES[ref] = tables
    return ref


def check_lambda(value: Any, where: str) -> float:
    """``value`` as a float if it is a finite number > 0, else ConfigError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where}: λ must be a finite number > 0, got {value!r}")
    return float(value)


class VBQQuantizer(Quantizer):
    """Each value becomes the grid point minimising (ẑ-μ)²/(2σ²) + λ·ℓ(ẑ) (Yang, Bamler & Mandt 2020).

    The setting is ``{"lambda": λ}``; a larger λ gives fewer bits. Two modes:

    - **fitted** (``tables`` = ``"sha256:…"`` of a tables asset, see :func:`~codecframe_vbq.fit.fit_tables`):
      per-channel empirical priors and per-(λ, channel) index models learned on training latents;
      ``channel_axis`` names the group's axis of channels. The side info names the table used.
    - **adaptive** (``tables`` = null): the prior is a piecewise-linear quantile function of the
      group's own means through ``knots + 1`` knots, and the index model comes from the group's level
      counts: P(k) = g[n(k)] / (N · 2^n(k)), the length model ℓ(n) = n - log2 P(n) of the paper's
      second pass; knots and level counts travel in the side info.

    ``length_correction`` runs the paper's second pass with lengths n - log2 P(n) instead of n.
    In fitted mode the search uses the σ calibration the tables were fitted with, if their info
    records one (:mod:`~codecframe_vbq.calibration`), else the posterior's own σ: tables fitted for
    a calibrated σ are only ever searched with it. Decoding never depends on it.
    Distortion (for allocators) is Σ (ẑ-μ)²/(2σ²) with the σ the search uses, so an allocator's λ
    means the same as VBQ's.
    """

    id = "vbq"
    requires = (HasStd,)

    @dataclasses.dataclass(frozen=True)
    class Config:
        tables: str | None = None
        channel_axis: int | None = None
        r_max: int = 10
        default_lambda: float = 1.0
        lambdas: tuple[float, ...] | None = None
        length_correction: bool = True
        knots: int = 16

        def __post_init__(self) -> None:
            where = "quantizer 'vbq'"
            if self.tables is not None:
                parse_ref(self.tables)
            check_r_max(self.r_max, f"{where}: r_max")
            check_lambda(self.default_lambda, f"{where}: default_lambda")
            if self.lambdas is not None:
                if not self.lambdas:
                    raise ConfigError(f"{where}: lambdas must not be empty (or null for the default grid)")
                for value in self.lambdas:
                    check_lambda(value, f"{where}: lambdas")
            if not 1 <= self.knots <= MAX_KNOTS:
                raise ConfigError(f"{where}: knots must be in 1..{MAX_KNOTS}, got {self.knots}")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"channel_axis": 0, "default_lambda": 0.25}, {"r_max": 4, "length_correction": False, "knots": 4}]

    # ------------------------------------------------------------------ state
    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._tables: VBQTables | None = None

    @property
    def tables(self) -> VBQTables | None:
        """The fitted tables (loaded on first use), or None in adaptive mode."""
        if self.config.tables is None:
            return None
        if self._tables is None:
            tables = load_tables(self.config.tables)
            if tables.r_max != self.config.r_max:
                raise ConfigError(f"{self.describe()}: tables have r_max {tables.r_max}, the config says {self.config.r_max}")
            self._tables = tables
        return self._tables

    @property
    def calibration(self) -> SigmaCalibration | None:
        """The σ calibration the search applies: the one the tables record (None: the posterior's own σ)."""
        tables = self.tables
        if tables is None or INFO_KEY not in tables.info:
            return None
        return SigmaCalibration.from_dict(tables.info[INFO_KEY])

    def fit(self, posteriors: Sequence[Posterior]) -> None:
        """Fit tables on training posteriors and switch to fitted mode with them (in this process).

        Save them with :meth:`save_tables` and register the file as an asset to decode elsewhere.
        """
        if not posteriors:
            raise InputError(f"{self.describe()}: fit needs at least one training posterior")
        means, stds = [], []
        for post in posteriors:
            if not isinstance(post, HasStd):
                raise InputError(f"{self.describe()}: fit needs posteriors with a std, got {type(post).__name__}")
            m, s = self._by_channel(post)
            means.append(m)
            stds.append(s)
        tables = fit_tables(np.concatenate(means, axis=1), np.concatenate(stds, axis=1),
                            self.config.lambdas or DEFAULT_LAMBDAS, self.config.r_max)
        self.config = dataclasses.replace(self.config, tables=use_tables(tables))
        self._tables = tables

    def save_tables(self, path: str) -> str:
        """Write the fitted tables file atomically; returns its asset reference."""
        if self.tables is None:
            raise ConfigError(f"{self.describe()}: adaptive mode has no tables to save")
        data = self.tables.to_bytes()
        atomic_write(path, data)
        return asset_ref(data)

    # ------------------------------------------------------------------ settings
    def settings(self) -> list[dict[str, Any]]:
        if self.config.lambdas is not None:
            grid: Sequence[float] = self.config.lambdas
        elif self.tables is not None:
            grid = [float(v) for v in self.tables.lambdas]
        else:
            grid = DEFAULT_LAMBDAS
        return [{"lambda": float(v)} for v in grid]

    def default_setting(self) -> dict[str, Any]:
        return {"lambda": self.config.default_lambda}

    def _lambda(self, setting: Mapping[str, Any]) -> float:
        if not isinstance(setting, Mapping) or set(setting) != {"lambda"}:
            raise ConfigError(f"{self.describe()}: setting must be {{'lambda': λ}}, got {setting!r}")
        return check_lambda(setting["lambda"], f"{self.describe()}: setting")

    # ------------------------------------------------------------------ channels
    def _axis(self, shape: tuple[int, ...]) -> int | None:
        axis = self.config.channel_axis
        if axis is None:
            return None
        if not -len(shape) <= axis < len(shape):
            raise InputError(f"{self.describe()}: channel_axis {axis} does not exist in shape {shape}")
        return axis % len(shape)

    def _channels(self, shape: tuple[int, ...]) -> tuple[int, np.ndarray | None]:
        """Number of channels and the channel of every element in C order (None for one channel)."""
        axis = self._axis(shape)
        tables = self.tables
        count = 1 if axis is None else shape[axis]
        if tables is not None and tables.channels != count:
            if axis is None:
                raise ConfigError(f"{self.describe()}: the tables have {tables.channels} channels; set channel_axis")
            raise InputError(f"{self.describe()}: axis {axis} of shape {shape} has {count} channels, the tables {tables.channels}")
        if axis is None or count == 1:
            return 1, None
        view = np.arange(count, dtype=np.int32).reshape([count if d == axis else 1 for d in range(len(shape))])
        return count, np.broadcast_to(view, shape).ravel()

    def _by_channel(self, post: Posterior) -> tuple[np.ndarray, np.ndarray]:
        mean, std = np.asarray(post.mean, np.float64), np.asarray(post.std, np.float64)  # type: ignore[attr-defined]
        axis = self._axis(mean.shape)
        if axis is None:
            return mean.reshape(1, -1), std.reshape(1, -1)
        return np.moveaxis(mean, axis, 0).reshape(mean.shape[axis], -1), np.moveaxis(std, axis, 0).reshape(mean.shape[axis], -1)

    # ------------------------------------------------------------------ quantize
    def _posterior(self, posterior: Posterior) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(posterior, HasStd):
            raise InputError(f"{self.describe()} needs a posterior with a std, got {type(posterior).__name__}")
        mean = np.asarray(posterior.mean)
        std = np.asarray(posterior.std)
        if mean.shape != std.shape:
            raise InputError(f"{self.describe()}: mean {mean.shape} and std {std.shape} differ in shape")
        calibration = self.calibration
        if calibration is not None:  # in the posterior's dtype, channels moved to axis 0 and back
            axis = self._axis(std.shape)
            moved = std[None] if axis is None else np.moveaxis(std, axis, 0)
            if moved.shape[0] != len(calibration.channel_mean):
                raise InputError(f"{self.describe()}: the tables' σ calibration has {len(calibration.channel_mean)} "
                                 f"channels, the posterior {moved.shape[0]}")
            std = calibration.apply(moved)[0] if axis is None else np.moveaxis(calibration.apply(moved), 0, axis)
        mu, sd = mean.astype(np.float64).ravel(), std.astype(np.float64).ravel()
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sd))):
            raise InputError(f"{self.describe()}: mean and std must be finite")
        if sd.size and not sd.min() >= MIN_STD:
            raise InputError(f"{self.describe()}: std must be at least {MIN_STD:g} (got {sd.min():g})")
        return mu, sd

    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        lam = self._lambda(setting)
        mu, sd = self._posterior(posterior)
        shape = tuple(np.shape(posterior.mean))  # type: ignore[attr-defined]
        dtype = np.asarray(posterior.mean).dtype.name  # type: ignore[attr-defined]
        channels, chan = self._channels(shape)
        chan64 = np.zeros(mu.size, np.int64) if chan is None else chan.astype(np.int64)
        r = self.config.r_max
        raw = np.tile(np.arange(r + 1, dtype=np.float64), (channels, 1))
        out = np.empty(mu.size, np.int32)
        tables = self.tables
        if tables is not None:
            j = tables.table_index(lam)
            lengths = np.ascontiguousarray(tables.lengths[j]) if self.config.length_correction else raw
            search(mu, sd, chan64, np.ascontiguousarray(tables.points), tables.guide, lengths, lam, out)
            side: dict[str, Any] = {"table": j}
        else:
            self._check_table_size(channels, InputError)
            knots = np.stack([quantile_knots(mu[chan64 == c], self.config.knots) for c in range(channels)])
            knots = knots.astype(np.float32)  # carried in the side info; float32 halves its size
            points = knot_points(knots, r)
            guide = build_guide(points, GUIDE_BUCKETS)
            lengths = raw
            if self.config.length_correction:
                search(mu, sd, chan64, points, guide, raw, lam, out)
                lengths = length_overhead(self._level_counts(out, chan64, channels))
            search(mu, sd, chan64, points, guide, lengths, lam, out)
            counts = _fit_level_counts(self._level_counts(out, chan64, channels))
            side = {"knots": knots, "levels": [[int(v) for v in row] for row in counts]}
        return Quantized(out, {"lambda": lam}, side, shape, dtype)

    def _check_table_size(self, channels: int, error: type[Exception]) -> None:
        """Refuse an adaptive-mode model table (channels × grid points) beyond the coders' table limit,
        before the grid points or counts are allocated."""
        entries = channels * (grid_size(self.config.r_max) + 1)
        if entries > MAX_TABLE_ENTRIES:
            raise error(f"{self.describe()}: {channels} channels at r_max {self.config.r_max} need a model table of "
                        f"{entries} entries, more than the limit of {MAX_TABLE_ENTRIES}")

    def _level_counts(self, symbols: np.ndarray, chan: np.ndarray, channels: int) -> np.ndarray:
        r = self.config.r_max
        lev = levels(r)[symbols]
        return np.bincount(chan * (r + 1) + lev, minlength=channels * (r + 1)).reshape(channels, r + 1)

    # ------------------------------------------------------------------ decode side
    def _side(self, q: Quantized, channels: int) -> tuple[np.ndarray, Any]:
        """Grid points (C, K) and the table index (fitted) or level counts (adaptive), validated."""
        r, tables, side = self.config.r_max, self.tables, q.side
        if tables is not None:
            j = side.get("table") if isinstance(side, Mapping) else None
            if set(side) != {"table"} or isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < tables.lambdas.size:
                raise FormatError(f"{self.describe()}: side info must be {{'table': 0..{tables.lambdas.size - 1}}}, got {dict(side)!r}")
            return tables.points, j
        if not isinstance(side, Mapping) or set(side) != {"knots", "levels"}:
            raise FormatError(f"{self.describe()}: side info must hold exactly 'knots' and 'levels'")
        self._check_table_size(channels, LimitError)
        knots, counts = side["knots"], side["levels"]
        if not (isinstance(knots, np.ndarray) and knots.dtype == np.float32 and knots.shape == (channels, self.config.knots + 1)):
            raise FormatError(f"{self.describe()}: side 'knots' must be float32 {(channels, self.config.knots + 1)}")
        if not np.all(np.isfinite(knots)) or np.any(np.diff(knots, axis=1) < 0):
            raise FormatError(f"{self.describe()}: side 'knots' must be finite and non-decreasing")
        if not (isinstance(counts, list) and len(counts) == channels
                and all(isinstance(row, list) and len(row) == r + 1 for row in counts)
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 32 for row in counts for v in row)):
            raise FormatError(f"{self.describe()}: side 'levels' must be {channels} lists of {r + 1} counts in 0..2^32-1")
        table = np.array(counts, np.int64).reshape(channels, r + 1)
        if np.any(table.sum(axis=1) << r > MAX_COUNT_SUM):
            raise FormatError(f"{self.describe()}: side 'levels' sums exceed the count limit")
        return knot_points(knots, r), table

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, np.ndarray | None]:
        channels, chan = self._channels(tuple(q.shape))
        _, state = self._side(q, channels)
        if self.tables is not None:
            return self.tables.model(state, precision), chan
        r = self.config.r_max
        lev = levels(r)
        counts = state[:, lev] << (r - lev)[None, :]  # the group's own level counts
        return ProbabilityModel.from_counts(counts, precision=precision), chan

    def dequantize(self, q: Quantized) -> np.ndarray:
        channels, chan = self._channels(tuple(q.shape))
        points, _ = self._side(q, channels)
        symbols = np.asarray(q.symbols)
        size = grid_size(self.config.r_max)
        if symbols.shape != (math.prod(q.shape),) or (symbols.size and (symbols.min() < 0 or symbols.max() >= size)):
            raise FormatError(f"{self.describe()}: symbols must be {math.prod(q.shape)} grid indexes in 0..{size - 1}")
        rows = np.zeros(symbols.size, np.int64) if chan is None else chan
        return points[rows, symbols].astype(q.dtype).reshape(q.shape)

    def distortion(self, posterior: Posterior, reconstruction: np.ndarray) -> float:
        """Σ (ẑ-μ)²/(2σ²): the search's own distortion term."""
        mu, sd = self._posterior(posterior)
        x = (np.asarray(reconstruction, np.float64).ravel() - mu) / sd
        return float(0.5 * np.dot(x, x))


def _fit_level_counts(counts: np.ndarray) -> np.ndarray:
    """Level counts halved until every row's model stays within the count limit and 32 bits."""
    counts = counts.astype(np.int64)
    r = counts.shape[1] - 1
    while np.any(counts.sum(axis=1) << r > MAX_COUNT_SUM) or np.any(counts > np.iinfo(np.uint32).max):
        counts >>= 1
    return counts
