"""Dead-zone scalar quantizer: q = sign(x) floor(|x| / Δ + ρ), x̂ = sign(q) (|q| - β) Δ (``specs/deadzone.md``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from codecframe.abc import HasMean, Posterior, Quantizer
from codecframe.errors import ConfigError, FormatError, InputError
from codecframe.probability import ProbabilityModel
from codecframe.types import Quantized

from .prior import PRIOR_K, prior_counts, prior_ref

#: Largest alphabet one group may use without a prior.
MAX_ALPHABET = 1 << 16


def _step(setting: Mapping[str, Any], error: type[Exception]) -> float:
    if not isinstance(setting, Mapping) or set(setting) != {"step"}:
        raise error(f"quantizer 'deadzone': setting must be {{'step': Δ}}, got {setting!r}")
    step = setting["step"]
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0:
        raise error(f"quantizer 'deadzone': step must be a finite number > 0, got {step!r}")
    return float(step)


class DeadZoneQuantizer(Quantizer):
    """Scalar quantizer with a widened zero bin (``rounding`` ρ < 1/2) and reconstructions pulled
    toward zero by ``bias`` β, the usual fit to Laplacian data.

    Without ``prior`` each group's symbols are coded with a table fitted to the group (side info
    ``lo`` and ``counts``); with ``prior`` (an asset reference) every group uses the shipped table
    over -64..64 and symbols saturate at ±64 (no side info).
    """

    id = "deadzone"
    version = 1
    requires = (HasMean,)

    @dataclasses.dataclass(frozen=True)
    class Config:
        step: float = 0.1
        rounding: float = 0.3
        bias: float = 0.1
        candidates: tuple[float, ...] = tuple(2.0**k for k in range(-6, 4))
        prior: str | None = None

        def __post_init__(self) -> None:
            for s in (self.step, *self.candidates):
                _step({"step": s}, ConfigError)
            if not self.candidates:
                raise ConfigError("quantizer 'deadzone': candidates must not be empty")
            if not 0.0 < self.rounding <= 0.5:
                raise ConfigError(f"quantizer 'deadzone': rounding must be in (0, 0.5], got {self.rounding}")
            if not 0.0 <= self.bias < 0.5:
                raise ConfigError(f"quantizer 'deadzone': bias must be in [0, 0.5), got {self.bias}")
            if self.prior is not None and not self.prior.startswith("sha256:"):
                raise ConfigError(f"quantizer 'deadzone': prior must be an asset reference 'sha256:...', got {self.prior!r}")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"rounding": 0.5, "bias": 0.0, "step": 0.25}, {"prior": prior_ref()}]

    def settings(self) -> list[dict[str, Any]]:
        return [{"step": s} for s in self.config.candidates]

    def default_setting(self) -> dict[str, Any]:
        return {"step": self.config.step}

    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        step = _step(setting, ConfigError)
        mean = np.asarray(posterior.mean)  # type: ignore[attr-defined]
        dtype = mean.dtype.name if mean.dtype.name in ("float32", "float64") else "float64"
        x = mean.astype(np.float64).ravel()
        mag = np.floor(np.abs(x) / step + self.config.rounding)
        limit = PRIOR_K if self.config.prior else 2**31 - 2
        if self.config.prior is None and mag.size and mag.max() > limit:
            raise InputError(f"{self.describe()}: step {step} is too small for values up to {np.abs(x).max()}")
        symbols = (np.sign(x) * np.minimum(mag, limit)).astype(np.int32)
        if self.config.prior:
            return Quantized(symbols, {"step": step}, {}, tuple(mean.shape), dtype)
        lo = int(symbols.min()) if symbols.size else 0
        hi = int(symbols.max()) if symbols.size else 0
        if hi - lo + 1 > MAX_ALPHABET:
            raise InputError(f"{self.describe()}: step {step} gives {hi - lo + 1} levels, more than {MAX_ALPHABET}")
        counts = np.bincount(symbols - lo, minlength=hi - lo + 1).astype(np.uint32)
        return Quantized(symbols, {"step": step}, {"lo": lo, "counts": counts}, tuple(mean.shape), dtype)

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, None]:
        _step(q.setting, FormatError)
        if self.config.prior:
            if dict(q.side):
                raise FormatError(f"{self.describe()}: with a prior the side info must be empty")
            return ProbabilityModel.from_counts(prior_counts(self.config.prior), precision, offsets=-PRIOR_K), None
        side = q.side
        if set(side) != {"lo", "counts"}:
            raise FormatError(f"{self.describe()}: side info must have exactly 'lo' and 'counts'")
        lo, counts = side["lo"], side["counts"]
        if isinstance(lo, bool) or not isinstance(lo, int):
            raise FormatError(f"{self.describe()}: side info 'lo' must be an integer")
        if not isinstance(counts, np.ndarray) or counts.dtype != np.uint32 or counts.ndim != 1 \
                or not 1 <= counts.size <= MAX_ALPHABET:
            raise FormatError(f"{self.describe()}: side info 'counts' must be 1 to {MAX_ALPHABET} uint32 values")
        if not -(2**31) <= lo <= 2**31 - counts.size:
            raise FormatError(f"{self.describe()}: side info 'lo' {lo} puts symbols outside int32")
        if counts.size > 1 << precision:
            # A valid setting this coder precision cannot code: InputError is the skip signal (the
            # allocators try the next candidate); a FormatError would abort the whole encode.
            raise InputError(f"{self.describe()}: {counts.size} levels cannot be coded at precision {precision}")
        try:
            return ProbabilityModel.from_counts(counts.astype(np.int64), precision, offsets=lo), None
        except InputError as exc:
            raise FormatError(f"{self.describe()}: side info gives no valid table: {exc}") from None

    def dequantize(self, q: Quantized) -> np.ndarray:
        step = _step(q.setting, FormatError)
        shape = tuple(q.shape)
        if q.symbols.size != math.prod(shape):
            raise FormatError(f"{self.describe()}: {q.symbols.size} symbols for shape {list(shape)}")
        s = q.symbols.astype(np.float64)
        values = np.sign(s) * (np.abs(s) - self.config.bias) * step
        return values.astype(q.dtype).reshape(shape)
