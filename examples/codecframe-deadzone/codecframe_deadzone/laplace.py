"""A factorized Laplace posterior: q(x) = prod Laplace(loc, scale)."""

from __future__ import annotations

from typing import Any

import numpy as np

from codecframe.abc import CanSample, HasMean, Posterior
from codecframe.errors import InputError


def _real(value: Any, name: str, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise InputError(f"{where}: {name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64) if arr.dtype.kind in "iu" else arr
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{where}: {name} contains NaN or infinite values")
    return arr


class LaplacePosterior(Posterior, HasMean, CanSample):
    """``loc`` and ``scale`` (> 0) of the group's shape; the mean and point estimate are ``loc``."""

    id = "laplace"
    fields = ("loc", "scale")

    def validate(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        where = self.describe()
        loc, scale = _real(arrays["loc"], "loc", where), _real(arrays["scale"], "scale", where)
        if loc.shape != scale.shape:
            raise InputError(f"{where}: scale shape {scale.shape} differs from loc shape {loc.shape}")
        if np.any(scale <= 0):
            raise InputError(f"{where}: scale must be positive everywhere")
        return {"loc": loc, "scale": scale}

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple[int, ...]) -> LaplacePosterior:
        return cls(loc=rng.laplace(0.0, 1.0, shape), scale=rng.uniform(0.05, 0.5, shape))

    @property
    def mean(self) -> np.ndarray:
        return self._arrays["loc"]

    def point(self) -> np.ndarray:
        return self._arrays["loc"]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        loc, scale = self._arrays["loc"], self._arrays["scale"]
        return rng.laplace(loc, scale, (n, *loc.shape))
