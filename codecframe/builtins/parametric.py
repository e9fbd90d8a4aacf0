"""Uniform quantizer whose symbols are coded with a parametric model (``specs/bitstream.md`` §7.4).

The symbols are those of :class:`~codecframe.builtins.uniform.UniformQuantizer`; instead of a count
table, the side info carries a location and a scale per channel (in symbol units) and a support
``lo..hi``, and the symbols are coded with the quantized Gaussian, Laplace or logistic model of
``specs/range-coder.md`` §6 with escape, so symbols outside the support cost an escape payload.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..abc import Posterior
from ..errors import ConfigError, FormatError, InputError
from ..probability import ParametricModel
from ..probability.grids import FAMILIES
from ..types import Quantized
from .uniform import UniformQuantizer, _check_step

__all__ = ["ParametricUniformQuantizer"]

#: Most bins of the support (the escape bins come on top: range-coder §6.1 allows 2^16 + 2).
MAX_SUPPORT = 1 << 16
#: The default support: with its 2 escape bins it fits the smallest precision (2^12 bins).
MAX_SUPPORT_ANY_PRECISION = (1 << 12) - 2
_SIDE_KEYS = ["hi", "lo", "mean", "scale"]


def _channels(shape: tuple[int, ...], axis: int | None, where: str, error: type[Exception]) -> tuple[int, int | None]:
    """Number of parameter pairs and the normalised axis; ``error`` if ``axis`` does not fit ``shape``."""
    if axis is None:
        return 1, None
    if not -len(shape) <= axis < len(shape):
        raise error(f"{where}: channel_axis {axis} does not exist in a group of shape {list(shape)}")
    axis %= len(shape)
    return shape[axis], axis


class ParametricUniformQuantizer(UniformQuantizer):
    """x̂ = Δ · rint(mean / Δ) like ``uniform``; symbols coded with a per-channel parametric model.

    Side info ``{"lo", "hi", "mean", "scale"}``: the support and, per channel (one pair without a
    channel axis), the location and scale of the family in symbol units, fitted by the encoder.
    """

    id = "uniform-parametric"
    model_kinds = frozenset({"parametric"})

    @dataclasses.dataclass(frozen=True)
    class Config:
        step: float = 0.1
        candidates: tuple[float, ...] = tuple(2.0 ** (k / 2) for k in range(-20, 9))
        family: str = "laplace"
        channel_axis: int | None = None
        support: int = MAX_SUPPORT_ANY_PRECISION

        def __post_init__(self) -> None:
            where = "quantizer 'uniform-parametric'"
            _check_step(self.step, f"{where}: step")
            if not self.candidates:
                raise ConfigError(f"{where}: candidates must not be empty")
            for s in self.candidates:
                _check_step(s, f"{where}: candidates")
            if self.family not in FAMILIES:
                raise ConfigError(f"{where}: family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
            if isinstance(self.support, bool) or not isinstance(self.support, int) or not 1 <= self.support <= MAX_SUPPORT:
                raise ConfigError(f"{where}: support must be an integer in 1..{MAX_SUPPORT}, got {self.support!r}")
            if self.channel_axis is not None and (isinstance(self.channel_axis, bool) or not isinstance(self.channel_axis, int)):
                raise ConfigError(f"{where}: channel_axis must be an integer or null, got {self.channel_axis!r}")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"family": "gaussian", "channel_axis": 0, "support": 8}, {"family": "logistic", "channel_axis": -1, "support": 3}]

    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        step = self._step(setting)
        values = np.asarray(posterior.mean)  # type: ignore[attr-defined]
        symbols, lo, hi = self._symbols(values, step)
        shape = tuple(values.shape)
        n, axis = _channels(shape, self.config.channel_axis, self.describe(), InputError)
        per_channel = (np.moveaxis(symbols.reshape(shape), axis, 0) if axis is not None else symbols).reshape(
            n, symbols.size // n if n else 0)
        mean, scale = np.zeros(n), np.zeros(n)
        for c in range(n):
            row = per_channel[c].astype(np.float64)
            if not row.size:
                continue
            if self.config.family == "laplace":  # maximum likelihood: the median and the mean absolute deviation
                mean[c] = float(np.median(row))
                scale[c] = float(np.mean(np.abs(row - mean[c])))
            else:  # the mean, and the standard deviation (Gaussian) or the logistic scale with that variance
                mean[c] = float(np.mean(row))
                spread = math.sqrt(float(np.mean((row - mean[c]) ** 2)))
                scale[c] = spread * math.sqrt(3) / math.pi if self.config.family == "logistic" else spread
        if hi - lo + 1 > self.config.support:  # keep the support around the median; the rest is escaped
            lo = min(max(int(np.median(symbols)) - self.config.support // 2, lo), hi - self.config.support + 1)
            hi = lo + self.config.support - 1
        side = {"lo": lo, "hi": hi, "mean": mean, "scale": scale}
        return Quantized(symbols, {"step": step}, side, shape, values.dtype.name)

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ParametricModel, np.ndarray]:
        where = self.describe()
        side = q.side
        if not isinstance(side, dict) or sorted(side) != _SIDE_KEYS:
            raise FormatError(f"{where}: side info must have exactly the keys {_SIDE_KEYS}")
        n, axis = _channels(q.shape, self.config.channel_axis, where, FormatError)
        for name in ("mean", "scale"):
            arr = side[name]
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.shape != (n,):
                raise FormatError(f"{where}: side info {name!r} must be a float64 array of {n} value(s)")
        lo, hi = side["lo"], side["hi"]
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (lo, hi)) or not -(2**31) <= lo <= hi <= 2**31 - 1 \
                or hi - lo + 1 > MAX_SUPPORT:
            raise FormatError(f"{where}: side info needs int32 'lo' <= 'hi' with at most {MAX_SUPPORT} values, got {lo!r}, {hi!r}")
        if hi - lo + 3 > 1 << precision:  # the skip signal: an allocator tries another setting
            raise InputError(f"{where}: a support of {hi - lo + 1} values (and 2 escape bins) cannot be coded at "
                             f"{precision}-bit precision; use a smaller 'support' or a higher coder precision")
        try:
            model = ParametricModel(self.config.family, side["mean"], side["scale"], lo, hi, escape=True, precision=precision)
        except InputError as exc:  # non-finite or negative parameters
            raise FormatError(f"{where}: side info: {exc}") from None
        count = math.prod(q.shape)
        if axis is None:
            return model, np.zeros(count, np.int32)
        ids = np.arange(n, dtype=np.int32).reshape([n if i == axis else 1 for i in range(len(q.shape))])
        return model, np.ascontiguousarray(np.broadcast_to(ids, q.shape)).reshape(-1)
