"""Encoder-side calibration of the σ that enters VBQ's objective (a measured deviation from the paper).

VBQ weighs a latent's move by 1/σ². With the shipped image VAE, log σ tracks the decoder's
sensitivity with a slope flatter than the ideal (docs/vbq.md), so raw σ overshoots: high-σ
latents are moved too far. The tempered std

    σ_eff = s_c · (σ / s_c)^α,    s_c = per-channel mean of σ over the training latents,

interpolates between raw VBQ (α = 1, σ_eff = σ exactly) and the "σ = channel mean" ablation
(α = 0, σ_eff = s_c exactly). Only the encoder's search uses σ_eff; the decoder, the container and
the tables format do not change. A calibration is recorded in the ``info`` of the tables fitted
with it (key :data:`INFO_KEY`), so an encoder that loads the tables searches with the same σ_eff.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from codecframe.errors import ConfigError

from .fit import DEFAULT_LAMBDAS, fit_tables
from .tables import VBQTables

__all__ = ["INFO_KEY", "SigmaCalibration", "fit_calibrated_tables"]

#: Key of the calibration in a tables file's ``info``.
INFO_KEY = "sigma_calibration"


@dataclasses.dataclass(frozen=True)
class SigmaCalibration:
    """σ_eff = s_c · (σ / s_c)^α along the channel axis 0; ``channel_mean`` holds s_c (one per channel)."""

    alpha: float
    channel_mean: tuple[float, ...]

    def __post_init__(self) -> None:
        a = self.alpha
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or not -1 <= a <= 2:
            raise ConfigError(f"σ calibration: alpha must be a number in [-1, 2], got {a!r}")
        s = self.channel_mean
        if (not isinstance(s, tuple) or not s
                or not all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in s)):
            raise ConfigError("σ calibration: channel_mean must be a non-empty tuple of finite floats > 0")
        object.__setattr__(self, "alpha", float(a))

    @classmethod
    def from_training(cls, stds: np.ndarray, alpha: float) -> SigmaCalibration:
        """s_c = mean of each row of the training stds (C, N)."""
        return cls(float(alpha), tuple(float(v) for v in np.asarray(stds, np.float64).mean(axis=1)))

    def apply(self, std: np.ndarray) -> np.ndarray:
        """σ_eff of ``std`` (channels on axis 0, same dtype); α = 1 returns ``std`` itself, α = 0 the s_c."""
        std = np.asarray(std)
        if std.ndim < 1 or std.shape[0] != len(self.channel_mean):
            raise ConfigError(f"σ calibration: {len(self.channel_mean)} channels on axis 0, got std {std.shape}")
        if self.alpha == 1.0:
            return std
        s = np.asarray(self.channel_mean, np.float64).reshape((-1,) + (1,) * (std.ndim - 1))
        if self.alpha == 0.0:
            return np.broadcast_to(s, std.shape).astype(std.dtype)
        return (s * (std.astype(np.float64) / s) ** self.alpha).astype(std.dtype)

    def to_dict(self) -> dict[str, Any]:
        """JSON-only form (stored in the tables' ``info``)."""
        return {"alpha": self.alpha, "channel_mean": list(self.channel_mean)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SigmaCalibration:
        if not isinstance(d, Mapping) or set(d) != {"alpha", "channel_mean"}:
            raise ConfigError(f"σ calibration: needs exactly the keys alpha and channel_mean, got {d!r}")
        if not isinstance(d["channel_mean"], (list, tuple)):
            raise ConfigError("σ calibration: channel_mean must be a list")
        return cls(d["alpha"], tuple(d["channel_mean"]))


def fit_calibrated_tables(means: np.ndarray, stds: np.ndarray, calibration: SigmaCalibration | None,
                          lambdas: Sequence[float] = DEFAULT_LAMBDAS, r_max: int = 10, backoff_shift: int = 5,
                          info: Mapping[str, Any] | None = None, length_correction: bool = True,
                          prior_span: str = "quantile", prior_power: float = 1.0) -> VBQTables:
    """:func:`~codecframe_vbq.fit.fit_tables` on training latents (C, N) searched with σ_eff, the
    calibration recorded in the tables' info (None: raw σ, nothing recorded)."""
    info = dict(info or {})
    if calibration is not None:
        stds = calibration.apply(np.asarray(stds, np.float64))
        info[INFO_KEY] = calibration.to_dict()
    return fit_tables(means, stds, lambdas, r_max, backoff_shift, info, length_correction, prior_span, prior_power)
