"""Uniform scalar quantizer: step Δ, symbols entropy-coded with a per-group fitted count model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..abc import HasMean, Posterior, Quantizer
from ..errors import ConfigError, InputError
from ..probability import ProbabilityModel
from ..probability.apportion import MAX_COUNT_SUM
from ..types import Quantized

__all__ = ["UniformQuantizer"]

#: Largest alphabet (max - min + 1 symbols) one group may use.
MAX_ALPHABET = 1 << 16
#: Elements per slice of float64 working memory in quantize and dequantize.
_SLICE = 1 << 16


def _check_step(step: Any, where: str) -> float:
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not np.isfinite(step) or step <= 0:
        raise ConfigError(f"{where}: step must be a finite number > 0, got {step!r}")
    return float(step)


class UniformQuantizer(Quantizer):
    """x̂ = Δ · rint(mean / Δ) (round half to even); the setting is ``{"step": Δ}``.

    Each group's symbols are coded with a model fitted to that group: the side info holds the
    smallest symbol ``lo`` and the symbol counts, from which the coder's integer table is built.
    Distortion is the squared error to the posterior mean.
    """

    id = "uniform"
    requires = (HasMean,)

    @dataclasses.dataclass(frozen=True)
    class Config:
        step: float = 0.1
        candidates: tuple[float, ...] = tuple(2.0 ** (k / 2) for k in range(-20, 9))

        def __post_init__(self) -> None:
            _check_step(self.step, "quantizer 'uniform': step")
            if not self.candidates:
                raise ConfigError("quantizer 'uniform': candidates must not be empty")
            for s in self.candidates:
                _check_step(s, "quantizer 'uniform': candidates")

    def settings(self) -> list[dict[str, Any]]:
        return [{"step": s} for s in self.config.candidates]

    def default_setting(self) -> dict[str, Any]:
        return {"step": self.config.step}

    def _step(self, setting: Mapping[str, Any]) -> float:
        if set(setting) != {"step"}:
            raise ConfigError(f"{self.describe()}: setting must be {{'step': Δ}}, got {dict(setting)!r}")
        return _check_step(setting["step"], f"{self.describe()}: setting")

    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        step = self._step(setting)
        mean = np.asarray(posterior.mean)  # type: ignore[attr-defined]
        symbols, lo, hi = self._symbols(mean, step)
        if hi - lo + 1 > MAX_ALPHABET:
            raise InputError(
                f"{self.describe()}: step {step} gives {hi - lo + 1} distinct levels, more than {MAX_ALPHABET}; use a larger step"
            )
        counts = np.zeros(hi - lo + 1, np.int64)
        for start in range(0, symbols.size, _SLICE):  # bincount copies its input to intp: slice it
            counts += np.bincount(symbols[start : start + _SLICE] - lo, minlength=hi - lo + 1)
        side = {"lo": lo, "counts": [int(c) for c in counts]}
        return Quantized(symbols, {"step": step}, side, tuple(mean.shape), mean.dtype.name)

    def _symbols(self, mean: np.ndarray, step: float) -> tuple[np.ndarray, int, int]:
        """rint(mean / step) as int32 (flat), with the smallest and largest symbol (0, 0 when empty)."""
        flat = mean.reshape(-1)
        symbols = np.empty(flat.size, np.int32)
        lo = hi = 0.0
        for start in range(0, flat.size, _SLICE):  # float64 work in slices: no group-sized temporaries
            scaled = flat[start : start + _SLICE].astype(np.float64)
            np.divide(scaled, step, out=scaled)
            np.rint(scaled, out=scaled)
            low, high = float(scaled.min()), float(scaled.max())
            if max(-low, high) >= 2**31 - 1:
                raise InputError(f"{self.describe()}: step {step} is too small for values up to {np.max(np.abs(mean))}")
            lo, hi = (low, high) if start == 0 else (min(lo, low), max(hi, high))
            symbols[start : start + _SLICE] = scaled
        return symbols, int(lo), int(hi)

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, None]:
        lo, counts = q.side.get("lo"), q.side.get("counts")
        if isinstance(lo, bool) or not isinstance(lo, int) or not isinstance(counts, list) or not counts:
            raise InputError(f"{self.describe()}: side info must hold integer 'lo' and a non-empty 'counts' list")
        if len(counts) > MAX_ALPHABET or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= MAX_COUNT_SUM for c in counts
        ):
            raise InputError(
                f"{self.describe()}: side info 'counts' must be at most {MAX_ALPHABET} integers in [0, {MAX_COUNT_SUM}]"
            )
        if not -(2**31) <= lo <= 2**31 - len(counts):
            raise InputError(f"{self.describe()}: side info 'lo' {lo} is out of the int32 range")
        if len(counts) > 1 << precision:
            raise InputError(
                f"{self.describe()}: {len(counts)} levels cannot be coded at {precision}-bit precision; "
                "use a larger step or a higher coder precision"
            )
        return ProbabilityModel.from_counts(np.asarray(counts, np.int64), precision=precision, offsets=lo), None

    def dequantize(self, q: Quantized) -> np.ndarray:
        step = self._step(q.setting)
        flat = q.symbols.reshape(-1)
        values = np.empty(flat.size, q.dtype)
        for start in range(0, flat.size, _SLICE):  # Δ·symbol in float64, then cast to the group's dtype
            with np.errstate(over="ignore"):  # an infinite product saturates like any other out-of-range one
                product = np.multiply(flat[start : start + _SLICE], step, dtype=np.float64)
            values[start : start + _SLICE] = saturating_cast(product, values.dtype)
        return values.reshape(q.shape)


def saturating_cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 ``x`` (no NaN) cast to ``dtype`` as spec §7.2 defines it, with no overflow and no warnings.

    Floats: round to nearest even, values beyond the largest finite value become it (never inf).
    Integers: round half to even, then clamp to the dtype's range. bool: the same with range [0, 1].
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        big = float(np.finfo(dtype).max)
        return np.clip(x, -big, big).astype(dtype)
    r = np.rint(x)
    if dtype.kind == "b":
        return r >= 1
    info = np.iinfo(dtype)
    high, low = r >= float(info.max), r <= float(info.min)  # float(max) rounds up for 64-bit types
    out = np.where(high | low, 0.0, r).astype(dtype)
    out[high], out[low] = info.max, info.min
    return out
