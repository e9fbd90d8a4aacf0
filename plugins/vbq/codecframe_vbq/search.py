"""The exact VBQ search: per value, the grid point minimising (ẑ-μ)²/(2σ²) + λ·ℓ(level(ẑ)).

Inside one level every point has the same length, and the loss grows with |ẑ-μ| on each side of
μ, so the best point of a level is one of its two neighbours of μ: 2·R+1 candidates in all
(``specs/vbq.md`` §3). Ties are broken by the key (loss, index distance to μ, index), which makes
the result equal to a brute-force search over the whole grid even under floating-point ties.

μ is located among the grid points through a per-row guide table of equal-width buckets (built by
:func:`build_guide`), so locating costs O(1) for well-spread grids and O(log K) at worst.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["GUIDE_BUCKETS", "build_guide", "search", "brute_force"]

#: Buckets of the guide table per grid row.
GUIDE_BUCKETS = 2048


@njit(cache=True, nogil=True, boundscheck=False)
def _bucket(value: float, lo: float, scale: float, buckets: int) -> int:
    """Monotone non-decreasing map of ``value`` to 0..buckets-1."""
    v = (value - lo) * scale
    if not v >= 0.0:  # below the first point (or NaN when scale == 0)
        return 0
    if v >= buckets:
        return buckets - 1
    return int(v)


@njit(cache=True, nogil=True)
def build_guide(points: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: ``lo``, ``scale`` and ``guide`` (C, buckets+1) with guide[b] = #points in buckets < b.

    Because :func:`_bucket` is monotone, every value in bucket b has exactly guide[b] .. guide[b+1]
    points at or below it, whatever the rounding.
    """
    rows, size = points.shape
    lo = np.empty(rows)
    scale = np.empty(rows)
    guide = np.zeros((rows, buckets + 1), np.int32)
    for c in range(rows):
        lo[c] = points[c, 0]
        width = points[c, size - 1] - points[c, 0]
        scale[c] = buckets / width if width > 0.0 and np.isfinite(buckets / width) else 0.0
        for k in range(size):
            guide[c, _bucket(points[c, k], lo[c], scale[c], buckets) + 1] += 1
        for b in range(buckets):
            guide[c, b + 1] += guide[c, b]
    return lo, scale, guide


@njit(cache=True, nogil=True, boundscheck=False)
def _count_le(row: np.ndarray, start: int, stop: int, value: float) -> int:
    """``start`` + number of entries of row[start:stop] (non-decreasing) that are <= ``value``."""
    while start < stop:
        mid = (start + stop) >> 1
        if row[mid] <= value:
            start = mid + 1
        else:
            stop = mid
    return start


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _better(loss: float, dist: int, k: int, best_loss: float, best_dist: int, best_k: int) -> bool:
    if loss < best_loss:
        return True
    if loss > best_loss:
        return False
    if dist != best_dist:
        return dist < best_dist
    return k < best_k


@njit(cache=True, nogil=True, boundscheck=False)
def search(
    mean: np.ndarray,
    std: np.ndarray,
    chan: np.ndarray,
    points: np.ndarray,
    guide: tuple[np.ndarray, np.ndarray, np.ndarray],
    lengths: np.ndarray,
    lam: float,
    out: np.ndarray,
) -> None:
    """Write the chosen sorted grid index of every value into ``out`` (int32).

    ``mean``/``std`` float64 (N,); ``chan`` int64 (N,) selects the row of ``points`` (C, K,
    non-decreasing), of ``guide`` (from :func:`build_guide`) and of ``lengths`` (C, R+1) for each
    value; ``lam`` >= 0.
    """
    lo, scale, table = guide
    buckets = table.shape[1] - 1
    rows, r_max, size = points.shape[0], lengths.shape[1] - 1, points.shape[1]
    # floor[c, n]: λ · the shortest length of levels >= n; no later level can beat a loss below it
    floor = np.empty((rows, r_max + 2))
    for c in range(rows):
        floor[c, r_max + 1] = np.inf
        for n in range(r_max, -1, -1):
            floor[c, n] = min(floor[c, n + 1], lam * lengths[c, n])
    for i in range(mean.shape[0]):
        c = chan[i]
        row = points[c]
        m = mean[i]
        inv = 1.0 / std[i]
        b = _bucket(m, lo[c], scale[c], buckets)
        p = _count_le(row, table[c, b], table[c, b + 1], m)  # row[:p] <= m < row[p:]
        best_loss, best_dist, best_k = np.inf, 1 << 62, size
        for n in range(r_max + 1):
            if floor[c, n] > best_loss:
                break
            shift = r_max - n
            base = lam * lengths[c, n]
            q = p >> shift  # level-n points are the odd multiples of 2^shift in k + 1
            left = q - 1 + (q & 1)  # the largest odd multiple <= p, in units of 2^shift
            if left >= 1:
                k = (left << shift) - 1
                x = (row[k] - m) * inv
                loss = 0.5 * x * x + base
                dist = 2 * (p - k) - 1
                if _better(loss, dist, k, best_loss, best_dist, best_k):
                    best_loss, best_dist, best_k = loss, dist, k
            k = ((left + 2) << shift) - 1  # the smallest odd multiple >= p + 1
            if k < size:
                x = (row[k] - m) * inv
                loss = 0.5 * x * x + base
                dist = 2 * (k - p) + 1
                if _better(loss, dist, k, best_loss, best_dist, best_k):
                    best_loss, best_dist, best_k = loss, dist, k
        out[i] = best_k


@njit(cache=True, nogil=True, boundscheck=False)
def brute_force(
    mean: np.ndarray,
    std: np.ndarray,
    chan: np.ndarray,
    points: np.ndarray,
    lengths: np.ndarray,
    level: np.ndarray,
    lam: float,
    out: np.ndarray,
) -> None:
    """Reference for :func:`search`: the same key evaluated on every grid point (``level`` per index)."""
    size = points.shape[1]
    for i in range(mean.shape[0]):
        row = points[chan[i]]
        lens = lengths[chan[i]]
        m = mean[i]
        inv = 1.0 / std[i]
        p = 0
        for k in range(size):
            if row[k] <= m:
                p += 1
        best_loss, best_dist, best_k = np.inf, 1 << 62, size
        for k in range(size):
            x = (row[k] - m) * inv
            loss = 0.5 * x * x + lam * lens[level[k]]
            dist = 2 * (p - k) - 1 if k < p else 2 * (k - p) + 1
            if _better(loss, dist, k, best_loss, best_dist, best_k):
                best_loss, best_dist, best_k = loss, dist, k
        out[i] = best_k
