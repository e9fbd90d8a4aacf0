"""Priors of the VBQ grid: grid points ẑ_k = P⁻¹(ξ_k) for every sorted index k.

Two constructions:

- :func:`empirical_points` (tables fitted on training latents): the empirical quantile function of
  the training posterior means, evaluated once per channel and stored in the tables asset, so the
  decoder only reads the lookup table.
- :func:`knot_points` (adaptive mode, per group): a piecewise-linear quantile function through
  ``Q + 1`` knots carried in the side info, evaluated with basic IEEE operations only
  (``specs/vbq.md`` §4), so every decoder computes the same points bit for bit.
"""

from __future__ import annotations

import numpy as np

from codecframe.errors import InputError

from .grid import grid_size, xi

__all__ = ["PRIOR_SPANS", "empirical_points", "quantile_knots", "knot_points"]

#: How :func:`empirical_points` maps the grid's CDF values onto the training values.
PRIOR_SPANS = ("quantile", "full")
#: Histogram bins of the flattened density (:func:`empirical_points` with ``power`` < 1).
FLAT_BINS = 512


def empirical_points(values: np.ndarray, r_max: int, span: str = "quantile", power: float = 1.0) -> np.ndarray:
    """Grid points (K,) at quantiles of the training ``values``.

    ``span = "quantile"``: at ξ_k = (k+1)/2^(R+1) (the paper's grid; the outermost points are the
    1/2^(R+1) and 1 - 1/2^(R+1) quantiles, so the most extreme training values lie beyond the grid).
    ``span = "full"``: at k/(K-1), the same CDF grid stretched so that the outermost points are the
    smallest and largest training values; with R = 0 (one point) both spans agree.

    ``power = 1``: the empirical quantiles (numpy's 'linear' method). ``0 ≤ power < 1``: quantiles
    of the flattened density ∝ p^power, p the histogram of ``values`` in :data:`FLAT_BINS` equal bins
    over [min, max], uniform within each bin (power 0: evenly spaced points). Measured choices,
    docs/vbq.md.
    """
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise InputError("an empirical prior needs at least one finite value")
    if span not in PRIOR_SPANS:
        raise InputError(f"prior span must be one of {PRIOR_SPANS}, got {span!r}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 <= power <= 1:
        raise InputError(f"prior power must be a number in [0, 1], got {power!r}")
    if span == "full" and r_max > 0:
        k = np.arange(grid_size(r_max), dtype=np.float64)
        targets = k / (k.size - 1)
    else:
        targets = xi(r_max)
    lo, hi = v.min(), v.max()
    if power == 1 or lo == hi:
        return np.quantile(v, targets, method="linear")
    edges = np.linspace(lo, hi, FLAT_BINS + 1)
    counts, _ = np.histogram(v, edges)
    mass = (counts / v.size) ** float(power) * (counts > 0)
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    cdf /= cdf[-1]
    j = np.clip(np.searchsorted(cdf, targets, side="right") - 1, 0, FLAT_BINS - 1)
    t = (targets - cdf[j]) / (cdf[j + 1] - cdf[j])
    points = np.clip(np.maximum.accumulate(edges[j] + np.clip(t, 0.0, 1.0) * (edges[j + 1] - edges[j])), lo, hi)
    if span == "full" and r_max > 0:  # the ends are the extremes exactly (interpolation can round them off)
        points[0], points[-1] = lo, hi
    return points


def quantile_knots(values: np.ndarray, count: int) -> np.ndarray:
    """``count + 1`` knots: the empirical quantiles of ``values`` at i/count (min and max at the ends)."""
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        return np.zeros(count + 1)
    return np.quantile(v, np.arange(count + 1) / count, method="linear")


def knot_points(knots: np.ndarray, r_max: int) -> np.ndarray:
    """Grid points (C, K) of the piecewise-linear quantile functions through ``knots`` (C, Q+1).

    For ξ = (k+1)/2^(R+1): i = ⌊(k+1)Q / 2^(R+1)⌋, t = ((k+1)Q mod 2^(R+1)) / 2^(R+1) (exact), and
    ẑ = min(knots[i] + (knots[i+1] - knots[i]) · t, knots[i+1]), each operation rounded once in
    float64 (no fused multiply-add). Knots must be finite and non-decreasing.
    """
    knots = np.asarray(knots, np.float64)
    q = knots.shape[1] - 1
    scaled = np.arange(1, grid_size(r_max) + 1, dtype=np.int64) * q
    i = scaled >> (r_max + 1)
    t = (scaled & ((1 << (r_max + 1)) - 1)).astype(np.float64) / float(1 << (r_max + 1))
    left, right = knots[:, i], knots[:, i + 1]  # i < q because k + 1 < 2^(R+1)
    return np.minimum(left + (right - left) * t, right)
