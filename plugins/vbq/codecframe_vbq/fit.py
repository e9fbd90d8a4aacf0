"""Fitting VBQ tables on training latents (the paper's two passes, ``specs/vbq.md`` §5.1)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codecframe.errors import InputError

from .grid import check_r_max, grid_size, levels
from .prior import empirical_points
from .search import GUIDE_BUCKETS, build_guide, search
from .tables import VBQTables, max_histogram_total

__all__ = ["DEFAULT_LAMBDAS", "fit_tables", "length_overhead"]

#: λ grid of fitted tables: 2^(k/2) for k = -16..20.
DEFAULT_LAMBDAS: tuple[float, ...] = tuple(2.0 ** (k / 2) for k in range(-16, 21))


def length_overhead(level_counts: np.ndarray) -> np.ndarray:
    """Search lengths n - log2 P(n) per row of level counts (C, R+1), P add-one smoothed."""
    counts = np.asarray(level_counts, np.float64) + 1.0
    r = counts.shape[1] - 1
    return np.arange(r + 1, dtype=np.float64)[None, :] - np.log2(counts / counts.sum(axis=1, keepdims=True))


def _check_latents(means: np.ndarray, stds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    means, stds = np.asarray(means, np.float64), np.asarray(stds, np.float64)
    if means.ndim != 2 or means.shape != stds.shape or means.shape[1] == 0:
        raise InputError(f"training latents must be (C, N) means and stds of one shape, got {means.shape}, {stds.shape}")
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(stds)) and np.all(stds > 0)):
        raise InputError("training latents must be finite with positive stds")
    return means, stds


def fit_tables(
    means: np.ndarray,
    stds: np.ndarray,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    r_max: int = 10,
    backoff_shift: int = 5,
    info: dict | None = None,
    length_correction: bool = True,
    prior_span: str = "quantile",
    prior_power: float = 1.0,
) -> VBQTables:
    """Tables for C channels from training posteriors ``means``/``stds`` of shape (C, N).

    Grid points: quantiles of each channel's means (``prior_span``, ``prior_power``: see
    :func:`~codecframe_vbq.prior.empirical_points`; values other than the defaults "quantile" and 1
    are recorded in the info under ``"prior_span"`` and ``"prior_power"``). For every λ: pass 1 searches
    with raw lengths n and fits the length overhead from its level counts; pass 2 searches with
    the corrected lengths and records the index histogram (halved until within the count limit).
    Without ``length_correction`` the lengths stay n and one pass gives the histogram.
    """
    means, stds = _check_latents(means, stds)
    r = check_r_max(r_max)
    lam = np.asarray(lambdas, np.float64)
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam <= 0) or np.any(np.diff(lam) <= 0):
        raise InputError("lambdas must be a non-empty increasing sequence of positive numbers")
    channels, n = means.shape
    points = np.stack([empirical_points(means[c], r, prior_span, prior_power) for c in range(channels)])
    info = dict(info or {})
    if prior_span != "quantile":
        info["prior_span"] = prior_span
    if prior_power != 1:
        info["prior_power"] = float(prior_power)
    guide = build_guide(points, GUIDE_BUCKETS)
    lev = levels(r)
    chan = np.repeat(np.arange(channels, dtype=np.int64), n)
    mu, sd = means.ravel(), stds.ravel()
    raw = np.tile(np.arange(r + 1, dtype=np.float64), (channels, 1))
    lengths = np.empty((lam.size, channels, r + 1))
    hist = np.empty((lam.size, channels, grid_size(r)), np.int64)
    out = np.empty(mu.size, np.int32)
    limit = max_histogram_total(r, backoff_shift)
    for j, value in enumerate(lam):
        search(mu, sd, chan, points, guide, raw, float(value), out)
        if length_correction:
            level_counts = np.stack([np.bincount(lev[out[c * n:(c + 1) * n]], minlength=r + 1) for c in range(channels)])
            lengths[j] = length_overhead(level_counts)
            search(mu, sd, chan, points, guide, lengths[j], float(value), out)
        else:
            lengths[j] = raw
        for c in range(channels):
            h = np.bincount(out[c * n:(c + 1) * n], minlength=grid_size(r)).astype(np.int64)
            while h.sum() > limit:
                h >>= 1
            hist[j, c] = h
    return VBQTables(r, points, lam, lengths, hist, backoff_shift, info)
