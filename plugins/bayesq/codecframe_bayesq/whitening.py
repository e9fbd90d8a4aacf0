"""Whitening by the posterior covariance: ``v = L^T (w - mean)`` with ``L L^T = Λ`` (the precision).

Under the posterior, ``v ~ N(0, I)``; squared distances in ``v`` are Mahalanobis distances
``(a - b)^T Λ (a - b)``, the second-order loss increase up to ½. One class per posterior structure:

- :class:`DiagWhitening`: ``Λ = diag(1/σ²)``.
- :class:`KroneckerWhitening`: matrix-normal ``Λ = (A ⊗ G)/T`` for a weight ``out × in`` (K-FAC):
  ``V = L_G^T (W - M) L_A / √T`` with Cholesky factors ``A = L_A L_A^T``, ``G = L_G L_G^T``.
- :class:`LowRankWhitening`: ``Λ = D^{1/2} (I + U diag(e) U^T) D^{1/2}`` with orthonormal ``U``
  (low rank plus diagonal); its square root is ``I + U diag(√(1+e) - 1) U^T``.
"""

from __future__ import annotations

import abc

import numpy as np

__all__ = ["Whitening", "DiagWhitening", "KroneckerWhitening", "LowRankWhitening"]


class Whitening(abc.ABC):
    """A posterior's whitening map for one weight array of shape ``mean.shape``."""

    mean: np.ndarray

    @abc.abstractmethod
    def whiten(self, w: np.ndarray) -> np.ndarray:
        """``L^T (w - mean)``, same shape as ``w``."""

    @abc.abstractmethod
    def unwhiten(self, v: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`whiten`."""

    @abc.abstractmethod
    def marginal_std(self) -> np.ndarray:
        """Posterior standard deviation of every element (diagonal of Λ^{-1}, square-rooted)."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` posterior samples, shape ``(n, *mean.shape)``."""
        return np.stack([self.unwhiten(rng.standard_normal(self.mean.shape)) for _ in range(n)])

    def mahalanobis(self, a: np.ndarray, b: np.ndarray) -> float:
        """``(a - b)^T Λ (a - b)`` computed in whitened coordinates."""
        d = self.whiten(a) - self.whiten(b)
        return float(np.sum(d * d))


class DiagWhitening(Whitening):
    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.std = np.asarray(std, np.float64)

    def whiten(self, w: np.ndarray) -> np.ndarray:
        return (np.asarray(w, np.float64) - self.mean) / self.std

    def unwhiten(self, v: np.ndarray) -> np.ndarray:
        return self.mean + np.asarray(v, np.float64) * self.std

    def marginal_std(self) -> np.ndarray:
        return self.std

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + self.std * rng.standard_normal((n, *self.mean.shape))


class KroneckerWhitening(Whitening):
    """Matrix-normal posterior of an ``out × in`` weight with precision factors ``a`` (in×in), ``g`` (out×out)."""

    def __init__(self, mean: np.ndarray, a: np.ndarray, g: np.ndarray, temperature: float = 1.0) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.la = np.linalg.cholesky(np.asarray(a, np.float64))
        self.lg = np.linalg.cholesky(np.asarray(g, np.float64))
        self.t = float(temperature)
        self._matrix = (self.lg.shape[0], self.la.shape[0])  # arrays are handled as rows × cols

    def whiten(self, w: np.ndarray) -> np.ndarray:
        d = (np.asarray(w, np.float64) - self.mean).reshape(self._matrix)
        return (self.lg.T @ d @ self.la / np.sqrt(self.t)).reshape(self.mean.shape)

    def unwhiten(self, v: np.ndarray) -> np.ndarray:
        from scipy.linalg import solve_triangular

        x = solve_triangular(self.lg.T, np.asarray(v, np.float64).reshape(self._matrix), lower=False)  # L_G^{-T} V
        x = solve_triangular(self.la.T, x.T, lower=False).T                                               # · L_A^{-1}
        return self.mean + np.sqrt(self.t) * x.reshape(self.mean.shape)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = rng.standard_normal((n, *self._matrix))
        inv_lgt, inv_la = np.linalg.inv(self.lg.T), np.linalg.inv(self.la)
        return self.mean + (np.sqrt(self.t) * (inv_lgt @ z @ inv_la)).reshape(n, *self.mean.shape)

    def marginal_std(self) -> np.ndarray:
        inv_a = np.linalg.inv(self.la @ self.la.T)
        inv_g = np.linalg.inv(self.lg @ self.lg.T)
        return np.sqrt(self.t * np.outer(np.diag(inv_g), np.diag(inv_a))).reshape(self.mean.shape)


class LowRankWhitening(Whitening):
    """Precision ``D^{1/2} (I + U diag(e) U^T) D^{1/2}``: ``diag`` = D (mean's shape), ``basis`` = U^T (k × size)."""

    def __init__(self, mean: np.ndarray, diag: np.ndarray, basis: np.ndarray, eig: np.ndarray) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.sqrt_d = np.sqrt(np.asarray(diag, np.float64)).ravel()
        self.u = np.asarray(basis, np.float64)
        self.e = np.asarray(eig, np.float64)

    def _apply(self, x: np.ndarray, power: float) -> np.ndarray:
        """``(I + U diag(e) U^T)^power x`` for flat ``x`` (or rows of ``x``)."""
        coef = (1.0 + self.e) ** power - 1.0
        if x.ndim == 1:
            return x + self.u.T @ (coef * (self.u @ x))
        return x + ((x @ self.u.T) * coef) @ self.u

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z = self._apply(rng.standard_normal((n, self.sqrt_d.size)), -0.5) / self.sqrt_d
        return self.mean + z.reshape(n, *self.mean.shape)

    def whiten(self, w: np.ndarray) -> np.ndarray:
        x = (np.asarray(w, np.float64) - self.mean).ravel() * self.sqrt_d
        return self._apply(x, 0.5).reshape(self.mean.shape)

    def unwhiten(self, v: np.ndarray) -> np.ndarray:
        x = self._apply(np.asarray(v, np.float64).ravel(), -0.5) / self.sqrt_d
        return self.mean + x.reshape(self.mean.shape)

    def marginal_std(self) -> np.ndarray:
        shrink = ((1.0 + self.e) ** -1.0 - 1.0) @ (self.u * self.u)
        return np.sqrt((1.0 + shrink) / self.sqrt_d ** 2).reshape(self.mean.shape)
