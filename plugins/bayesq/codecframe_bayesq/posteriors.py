"""Structured Gaussian posteriors over a weight matrix (registered under ``codecframe.posteriors``).

Both extend the core diagonal ``gaussian`` posterior: ``mean`` and ``std`` (the marginal standard
deviations, what scalar quantizers use) plus the factors of the full precision, which
:meth:`whitening` and :meth:`sample` use. Any quantizer that accepts ``gaussian`` accepts these.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from codecframe.builtins.gaussian import GaussianPosterior, as_float_array
from codecframe.errors import ConfigError, InputError

from .whitening import DiagWhitening, KroneckerWhitening, LowRankWhitening, Whitening

__all__ = ["KFACPosterior", "LowRankPosterior", "whitening_of", "rescale"]


def _matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, cols) of a weight array: rows = first axis (one row for a 1-D array)."""
    if len(shape) == 0:
        raise InputError("a weight posterior needs at least one dimension")
    if len(shape) == 1:
        return 1, int(shape[0])
    return int(shape[0]), int(np.prod(shape[1:]))


def _check_spd(mat: np.ndarray, n: int, name: str, where: str) -> np.ndarray:
    if mat.shape != (n, n):
        raise InputError(f"{where}: {name} must be {n}×{n}, got {mat.shape}")
    if not np.allclose(mat, mat.T, rtol=1e-10, atol=1e-12 * float(np.abs(mat).max() or 1.0)):
        raise InputError(f"{where}: {name} must be symmetric")
    try:
        np.linalg.cholesky(mat)
    except np.linalg.LinAlgError:
        raise InputError(f"{where}: {name} must be positive definite") from None
    return mat


class KFACPosterior(GaussianPosterior):
    """Matrix-normal posterior of an ``out × in`` weight (any array: rows = first axis, columns = the
    rest; a 1-D array is one row): precision ``(a_factor ⊗ g_factor) / temperature``."""

    id = "bayesq-kfac"
    fields = ("mean", "std", "a_factor", "g_factor")

    @dataclasses.dataclass(frozen=True)
    class Config:
        temperature: float = 1.0

        def __post_init__(self) -> None:
            if not self.temperature > 0:
                raise ConfigError(f"posterior 'bayesq-kfac': temperature must be > 0, got {self.temperature}")

    def validate(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        out = super().validate({"mean": arrays["mean"], "std": arrays["std"]})
        where = self.describe()
        rows, cols = _matrix_shape(out["mean"].shape)
        out["a_factor"] = _check_spd(as_float_array(arrays["a_factor"], "a_factor", where), cols, "a_factor", where)
        out["g_factor"] = _check_spd(as_float_array(arrays["g_factor"], "g_factor", where), rows, "g_factor", where)
        return out

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple[int, ...]) -> KFACPosterior:
        rows, cols = _matrix_shape(tuple(shape))
        a = rng.standard_normal((cols, cols + 2))
        g = rng.standard_normal((rows, rows + 2))
        a, g = a @ a.T / cols + np.eye(cols), g @ g.T / rows + np.eye(rows)
        std = KroneckerWhitening(np.zeros((rows, cols)), a, g).marginal_std().reshape(shape)
        return cls(mean=rng.standard_normal(shape), std=std, a_factor=a, g_factor=g)

    def whitening(self) -> Whitening:
        return KroneckerWhitening(self.mean, self._arrays["a_factor"], self._arrays["g_factor"], self.config.temperature)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.whitening().sample(rng, n)


class LowRankPosterior(GaussianPosterior):
    """Precision ``D^{1/2} (I + U diag(eig) U^T) D^{1/2}``: ``diag`` (D, mean's shape), ``basis`` (U^T, k × size, orthonormal rows), ``eig`` (k,)."""

    id = "bayesq-lowrank"
    fields = ("mean", "std", "diag", "basis", "eig")

    def validate(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        out = super().validate({"mean": arrays["mean"], "std": arrays["std"]})
        where = self.describe()
        diag = as_float_array(arrays["diag"], "diag", where)
        basis = as_float_array(arrays["basis"], "basis", where)
        eig = as_float_array(arrays["eig"], "eig", where)
        size = out["mean"].size
        if diag.shape != out["mean"].shape or np.any(diag <= 0):
            raise InputError(f"{where}: diag must be positive with the mean's shape")
        if basis.ndim != 2 or basis.shape[1] != size or eig.shape != (basis.shape[0],):
            raise InputError(f"{where}: basis must be k × {size} and eig of length k")
        if np.any(eig < 0):
            raise InputError(f"{where}: eig must be non-negative")
        if basis.shape[0] and not np.allclose(basis @ basis.T, np.eye(basis.shape[0]), atol=1e-6):
            raise InputError(f"{where}: basis rows must be orthonormal")
        out.update(diag=diag, basis=basis, eig=eig)
        return out

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple[int, ...]) -> LowRankPosterior:
        size = int(np.prod(shape))
        k = min(3, size)
        q, _ = np.linalg.qr(rng.standard_normal((size, k)))
        diag = np.exp(rng.uniform(0, 3, shape))
        eig = np.exp(rng.uniform(0, 2, k))
        mean = rng.standard_normal(shape)
        w = LowRankWhitening(mean, diag, q.T, eig)
        return cls(mean=mean, std=w.marginal_std(), diag=diag, basis=q.T, eig=eig)

    def whitening(self) -> Whitening:
        a = self._arrays
        return LowRankWhitening(self.mean, a["diag"], a["basis"], a["eig"])

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.whitening().sample(rng, n)


def whitening_of(posterior: GaussianPosterior) -> Whitening:
    """The posterior's whitening map (diagonal for the core ``gaussian`` posterior)."""
    if hasattr(posterior, "whitening"):
        return posterior.whitening()
    return DiagWhitening(posterior.mean, posterior.std)


def rescale(posterior: GaussianPosterior, factor: float) -> GaussianPosterior:
    """The same posterior with every standard deviation multiplied by ``factor`` (covariance by factor²)."""
    if not factor > 0:
        raise InputError(f"posterior rescale factor must be > 0, got {factor}")
    a = posterior.arrays()
    a["std"] = a["std"] * factor
    if isinstance(posterior, KFACPosterior):
        return KFACPosterior(temperature=posterior.config.temperature * factor * factor, **a)
    if isinstance(posterior, LowRankPosterior):
        a["diag"] = a["diag"] / (factor * factor)
        return LowRankPosterior(**a)
    return type(posterior).from_config(posterior.get_config(), **a)
