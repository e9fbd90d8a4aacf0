"""Evaluation baselines on the same latents: per-channel scalar codebooks with fitted count models.

Not registered (used in-process by the R–D evaluation, ``benchmarks/vbq``); each is a proper
:class:`~codecframe.abc.Quantizer`, so its files go through the same container and coder as VBQ's.
A :class:`CodebookQuantizer` maps each posterior mean to the nearest point of its channel's sorted
codebook (ties to the lower index) and codes the index with a per-channel model of training counts
(add-one smoothed). The codebooks:

- :func:`uniform_range_codebooks`: L bin centres spanning each channel's training range (the
  reference code's ``UniformQuantizer``);
- :func:`uniform_step_codebooks`: the multiples of one global step Δ within each channel's range;
- :func:`kmeans_codebooks`: L k-means centres per channel (scikit-learn, seeded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit

from codecframe.abc import HasMean, Posterior, Quantizer
from codecframe.errors import ConfigError, FormatError
from codecframe.probability import ProbabilityModel
from codecframe.types import Quantized

__all__ = ["Codebooks", "CodebookQuantizer", "uniform_range_codebooks", "uniform_step_codebooks",
           "kmeans_codebooks", "fit_counts"]


@dataclasses.dataclass(frozen=True)
class Codebooks:
    """Per channel: ``values`` (C, L_max) sorted, padded by repeating the last value; ``sizes`` (C,)."""

    values: np.ndarray
    sizes: np.ndarray


@njit(cache=True)
def _nearest(mean: np.ndarray, chan: np.ndarray, values: np.ndarray, sizes: np.ndarray, out: np.ndarray) -> None:
    for i in range(mean.shape[0]):
        row, n, m = values[chan[i]], sizes[chan[i]], mean[i]
        lo, hi = 0, n  # first index with row >= m
        while lo < hi:
            mid = (lo + hi) >> 1
            if row[mid] < m:
                lo = mid + 1
            else:
                hi = mid
        if lo == n:
            out[i] = n - 1
        elif lo > 0 and m - row[lo - 1] <= row[lo] - m:
            out[i] = lo - 1
        else:
            out[i] = lo


def assign(means: np.ndarray, books: Codebooks) -> np.ndarray:
    """Nearest codebook index of every value of ``means`` (C, N)."""
    c, n = means.shape
    out = np.empty(c * n, np.int32)
    _nearest(np.ascontiguousarray(means, np.float64).ravel(), np.repeat(np.arange(c), n), books.values,
             books.sizes.astype(np.int64), out)
    return out.reshape(c, n)


def fit_counts(means: np.ndarray, books: Codebooks) -> np.ndarray:
    """Add-one smoothed counts (C, L_max) of the training assignments (zero past each size)."""
    idx = assign(means, books)
    width = books.values.shape[1]
    counts = np.stack([np.bincount(row, minlength=width) for row in idx]).astype(np.int64) + 1
    return np.where(np.arange(width)[None, :] < books.sizes[:, None], counts, 0)


def _pad(rows: list[np.ndarray]) -> Codebooks:
    width = max(r.size for r in rows)
    values = np.stack([np.concatenate([r, np.full(width - r.size, r[-1])]) for r in rows]).astype(np.float64)
    return Codebooks(values, np.array([r.size for r in rows], np.int64))


def uniform_range_codebooks(means: np.ndarray, levels: int) -> Codebooks:
    """``levels`` bin centres min + δ(k + 1/2), δ = (max - min)/levels, per channel of ``means`` (C, N)."""
    lo, hi = means.min(axis=1), means.max(axis=1)
    delta = np.maximum(hi - lo, 1e-12) / levels
    return _pad([lo[c] + delta[c] * (np.arange(levels) + 0.5) for c in range(means.shape[0])])


def uniform_step_codebooks(means: np.ndarray, step: float) -> Codebooks:
    """Multiples of ``step`` from the lowest to the highest rounded training mean, per channel."""
    lo, hi = np.rint(means.min(axis=1) / step), np.rint(means.max(axis=1) / step)
    return _pad([step * np.arange(lo[c], hi[c] + 1) for c in range(means.shape[0])])


def kmeans_codebooks(means: np.ndarray, levels: int, seed: int = 0, sample: int = 20000) -> Codebooks:
    """``levels`` k-means centres per channel (on at most ``sample`` training means per channel)."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    rows = []
    for c in range(means.shape[0]):
        x = means[c] if means.shape[1] <= sample else rng.choice(means[c], sample, replace=False)
        k = min(levels, np.unique(x).size)
        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(x.reshape(-1, 1))
        rows.append(np.sort(km.cluster_centers_.ravel()))
    return _pad(rows)


class CodebookQuantizer(Quantizer):
    """Nearest point of a per-channel codebook (axis 0 of the group); setting ``{}``; in-process only."""

    id = "vbq-codebook-baseline"
    requires = (HasMean,)

    @dataclasses.dataclass(frozen=True)
    class Config:
        name: str = "baseline"
        tables: str = ""

    def __init__(self, books: Codebooks, counts: np.ndarray, name: str, tables: str) -> None:
        super().__init__(name=name, tables=tables)
        self.books, self.counts = books, counts
        self._models: dict[int, ProbabilityModel] = {}

    def settings(self) -> list[dict[str, Any]]:
        return [{}]

    def default_setting(self) -> dict[str, Any]:
        return {}

    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        if dict(setting):
            raise ConfigError(f"{self.describe()}: takes no setting")
        mean = np.asarray(posterior.mean)  # type: ignore[attr-defined]
        if mean.ndim != 3 or mean.shape[0] != self.books.values.shape[0]:
            raise FormatError(f"{self.describe()}: needs (C, H, W) latents with C = {self.books.values.shape[0]}")
        symbols = assign(mean.reshape(mean.shape[0], -1).astype(np.float64), self.books).ravel()
        return Quantized(symbols, {}, {}, tuple(mean.shape), mean.dtype.name)

    def _chan(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.repeat(np.arange(shape[0], dtype=np.int32), int(np.prod(shape[1:])))

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, np.ndarray]:
        if precision not in self._models:
            self._models[precision] = ProbabilityModel.from_counts(self.counts, precision=precision,
                                                                   sizes=self.books.sizes)
        return self._models[precision], self._chan(tuple(q.shape))

    def dequantize(self, q: Quantized) -> np.ndarray:
        chan = self._chan(tuple(q.shape))
        return self.books.values[chan, q.symbols].astype(q.dtype).reshape(q.shape)

    def float_information(self, symbols: np.ndarray, shape: tuple[int, ...]) -> float:
        """Ideal bits of ``symbols`` under the float model counts / sum (before integer rounding)."""
        chan = self._chan(shape)
        p = self.counts[chan, symbols] / self.counts.sum(axis=1)[chan]
        return float(-np.log2(p).sum())
