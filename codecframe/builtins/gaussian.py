"""Diagonal Gaussian posterior."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..abc import CanSample, HasStd, Posterior
from ..errors import InputError

__all__ = ["GaussianPosterior", "as_float_array", "distinct_view"]


def distinct_view(arr: np.ndarray) -> np.ndarray:
    """``arr`` with every broadcast (zero-stride) axis cut to length 1: the same values, each once.

    Checks of a broadcast array (e.g. one std for a whole chunk) then read its data, not its shape.
    """
    return arr[tuple(slice(0, 1) if stride == 0 and size > 1 else slice(None)
                     for stride, size in zip(arr.strides, arr.shape))]


def as_float_array(value: Any, name: str, where: str) -> np.ndarray:
    """A float32/float64 array (other numeric input becomes float64); non-finite values raise InputError."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
        raise InputError(f"{where}: {name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(distinct_view(arr))):
        raise InputError(f"{where}: {name} contains NaN or infinite values")
    return arr


class GaussianPosterior(Posterior, HasStd, CanSample):
    """q(x) = N(mean, diag(std^2)); ``mean`` and ``std`` have the group's shape, ``std > 0``."""

    id = "gaussian"
    fields = ("mean", "std")

    def validate(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        where = self.describe()
        mean = as_float_array(arrays["mean"], "mean", where)
        std = as_float_array(arrays["std"], "std", where)
        if std.shape != mean.shape:
            raise InputError(f"{where}: std shape {std.shape} differs from mean shape {mean.shape}")
        if np.any(distinct_view(std) <= 0):
            raise InputError(f"{where}: std must be positive everywhere")
        return {"mean": mean, "std": std}

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple[int, ...]) -> GaussianPosterior:
        return cls(mean=rng.standard_normal(shape), std=np.exp(rng.normal(-1.0, 0.5, shape)))

    @property
    def mean(self) -> np.ndarray:
        return self._arrays["mean"]

    @property
    def std(self) -> np.ndarray:
        return self._arrays["std"]

    def point(self) -> np.ndarray:
        return self.mean

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + self.std * rng.standard_normal((n, *self.mean.shape))
