"""Codebooks that minimise posterior-expected, precision-weighted distortion.

Every row ``r`` of a weight matrix (an output channel) gets its own grid. Distortion is measured in
whitened coordinates: for a diagonal posterior ``N(m_i, σ_i²)`` the weight of element ``i`` is
``λ_i = 1/σ_i²``, so ``D_r = Σ_i λ_i E[(w_i - Q(w_i))²]`` (the Hessian-weighted loss increase up to ½).

- :func:`design_grids`: uniform grids ``zero + step·k`` (k = 0..2^b-1) per row; step and offset are
  searched over shrunken min–max ranges with the closed-form tables, then refined by expected-error
  Lloyd steps (the normal equations of ``(zero, step)`` given the posterior cell moments).
- :func:`design_codebooks`: non-uniform levels ``zero_r + scale_r·c_k`` with one normalised codebook
  ``c`` per layer and width, learned by Lloyd–Max in whitened space (weights ``λ_i·scale_r²``),
  started from the Lloyd–Max levels of N(0, 1).
- :func:`minmax_grids`: the RTN grid (for the "allocation only" ablation and the baselines).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numba import njit

from .gaussian_error import WINDOW, _point, _point_table, grid_error_sum, lloyd_max_gaussian, one_sided_table

__all__ = ["GridDesign", "CodebookDesign", "design_grids", "minmax_grids", "design_codebooks", "codebook_errors",
           "DEFAULT_SHRINKS"]

#: Fractions of the min–max half-range tried as starting grids.
DEFAULT_SHRINKS = (1.0, 0.85, 0.7)
#: Lloyd proposals treat a posterior wider than this many cells as a point (the objective stays exact).
MAX_WINDOW_CELLS = 8.0
#: Lloyd proposals ignore posterior mass beyond this many standard deviations (the objective stays exact).
PROPOSAL_WINDOW = 4.0


@dataclasses.dataclass(frozen=True)
class GridDesign:
    """Per-row uniform grids at one width: ``step``, ``zero`` (R,) and whitened expected distortion ``dist`` (R,)."""

    bits: int
    step: np.ndarray
    zero: np.ndarray
    dist: np.ndarray


@dataclasses.dataclass(frozen=True)
class CodebookDesign:
    """Per-row affine maps of one shared normalised codebook: level ``k`` of row ``r`` is ``zero[r] + scale[r]·levels[k]``."""

    bits: int
    levels: np.ndarray
    scale: np.ndarray
    zero: np.ndarray
    dist: np.ndarray


# --------------------------------------------------------------------------- cell moments
@njit(cache=True)
def _add_moments(tab: np.ndarray, mean: np.ndarray, std: np.ndarray, lam: np.ndarray, levels: np.ndarray, zero: float,
                 scale: float, acc_p: np.ndarray, acc_m1: np.ndarray) -> None:
    """Add ``w·P(cell k)`` and ``w·E[x; cell k]`` over the elements of a row, for x ~ N(m, s²) with
    ``m = (mean - zero)/scale``, ``s = std/scale``, ``w = lam·scale²``, under nearest-level cells of ``levels``.

    Φ comes from the Hermite table of ``tab`` (:func:`~.gaussian_error.one_sided_table`): the moments
    only propose a refit, which the exact objective accepts or rejects. One loop over the row with
    the arrays indexed in place (numba pays reference counting when arrays are passed to a helper
    inside a branchy per-element loop).
    """
    count = levels.shape[0]
    for i in range(mean.shape[0]):
        m, s, w = (mean[i] - zero) / scale, std[i] / scale, lam[i] * scale * scale
        # locate the nearest level: k = first index with levels[k] >= m (levels sorted), by bisection
        k, hi = 0, count
        while k < hi:
            mid = (k + hi) >> 1
            if levels[mid] < m:
                k = mid + 1
            else:
                hi = mid
        if k == count:
            k = count - 1
        elif k > 0 and m - levels[k - 1] <= levels[k] - m:
            k -= 1
        lo_b = -np.inf if k == 0 else 0.5 * (levels[k - 1] + levels[k])
        hi_b = np.inf if k == count - 1 else 0.5 * (levels[k] + levels[k + 1])
        # Narrow posteriors (and, as an approximation that only steers the proposal, posteriors
        # spanning more than MAX_WINDOW_CELLS cells) are assigned to their nearest level.
        if (m - lo_b > PROPOSAL_WINDOW * s and hi_b - m > PROPOSAL_WINDOW * s) or \
                2.0 * PROPOSAL_WINDOW * s > MAX_WINDOW_CELLS * (hi_b - lo_b):
            acc_p[k] += w
            acc_m1[k] += w * m
            continue
        # walk outwards over the cells within the window
        j0 = k
        while j0 > 0 and 0.5 * (levels[j0 - 1] + levels[j0]) > m - PROPOSAL_WINDOW * s:
            j0 -= 1
        j1 = k
        while j1 < count - 1 and 0.5 * (levels[j1] + levels[j1 + 1]) < m + PROPOSAL_WINDOW * s:
            j1 += 1
        # each inner threshold is evaluated once: cell j's upper bound is cell j+1's lower bound
        pa, fa, _ = (0.0, 0.0, 0.0) if j0 == 0 else _point_table(tab, (0.5 * (levels[j0 - 1] + levels[j0]) - m) / s)
        for j in range(j0, j1 + 1):
            pb, fb, _ = (1.0, 0.0, 0.0) if j == count - 1 else _point_table(tab, (0.5 * (levels[j] + levels[j + 1]) - m) / s)
            p = pb - pa
            acc_p[j] += w * p
            acc_m1[j] += w * (m * p + s * (fa - fb))
            pa, fa = pb, fb


@njit(cache=True, inline="always")
def _solve_affine(a0: float, a1: float, a2: float, b0: float, b1: float) -> tuple[float, float]:
    """Weighted least squares ``y ≈ intercept + slope·x`` from the normal-equation sums Σw, Σw·x,
    Σw·x², Σw·y, Σw·y·x; NaNs when the system is singular or the slope is not positive and finite."""
    det = a0 * a2 - a1 * a1
    if not det > 1e-300 * (a0 * a2 + 1e-300):
        return np.nan, np.nan
    intercept = (a2 * b0 - a1 * b1) / det
    slope = (a0 * b1 - a1 * b0) / det
    if not (slope > 0.0 and math.isfinite(slope) and math.isfinite(intercept)):
        return np.nan, np.nan
    return intercept, slope


@njit(cache=True)
def _affine_refit(tab: np.ndarray, mean: np.ndarray, std: np.ndarray, lam: np.ndarray, levels: np.ndarray,
                  scale: float, zero: float, acc_p: np.ndarray, acc_m1: np.ndarray) -> tuple[float, float]:
    """Best ``(scale, zero)`` for fixed cells of the levels ``zero + scale·levels`` (normal equations)."""
    count = levels.shape[0]
    acc_p[:] = 0.0
    acc_m1[:] = 0.0
    # (x - 0)/1 and λ·1·1 are exact: the moments of the weights themselves under the current levels
    _add_moments(tab, mean, std, lam, zero + scale * levels, 0.0, 1.0, acc_p, acc_m1)
    a0 = a1 = a2 = b0 = b1 = 0.0
    for k in range(count):
        a0 += acc_p[k]
        a1 += acc_p[k] * levels[k]
        a2 += acc_p[k] * levels[k] * levels[k]
        b0 += acc_m1[k]
        b1 += acc_m1[k] * levels[k]
    new_zero, new_scale = _solve_affine(a0, a1, a2, b0, b1)
    if math.isnan(new_scale):
        return scale, zero
    return new_scale, new_zero


# --------------------------------------------------------------------------- uniform grids
@njit(cache=True, error_model="numpy")
def _grid_refit(tab: np.ndarray, mean: np.ndarray, std: np.ndarray, lam: np.ndarray, count: int, step: float,
                zero: float) -> tuple[float, float]:
    """:func:`_affine_refit` for the uniform grid ``zero + step·k``, worked in grid units.

    With ``y = (x - zero)/step ~ N(t, ρ²)`` the cells are ``(k - 1/2, k + 1/2]`` and the normal
    equations of ``y ≈ z' + Δ'·k`` are accumulated directly: the same cells, proposal window and
    point-mass rules as :func:`_add_moments` (up to rounding), without a levels array.
    """
    a0 = a1 = a2 = b0 = b1 = 0.0
    last = count - 1.0
    for i in range(mean.shape[0]):
        t, r, w = (mean[i] - zero) / step, std[i] / step, lam[i]
        k = min(max(math.ceil(t - 0.5), 0.0), last)  # nearest level, ties to the lower
        lo_b = -np.inf if k == 0.0 else k - 0.5
        hi_b = np.inf if k == last else k + 0.5
        if (t - lo_b > PROPOSAL_WINDOW * r and hi_b - t > PROPOSAL_WINDOW * r) or \
                2.0 * PROPOSAL_WINDOW * r > MAX_WINDOW_CELLS * (hi_b - lo_b):
            a0 += w
            a1 += w * k
            a2 += w * k * k
            b0 += w * t
            b1 += w * t * k
            continue
        j0 = k
        while j0 > 0.0 and j0 - 0.5 > t - PROPOSAL_WINDOW * r:
            j0 -= 1.0
        j1 = k
        while j1 < last and j1 + 0.5 < t + PROPOSAL_WINDOW * r:
            j1 += 1.0
        inv = 1.0 / r
        pa, fa, _ = (0.0, 0.0, 0.0) if j0 == 0.0 else _point_table(tab, (j0 - 0.5 - t) * inv)
        j = j0
        while j <= j1:
            pb, fb, _ = (1.0, 0.0, 0.0) if j == last else _point_table(tab, (j + 0.5 - t) * inv)
            p = w * (pb - pa)
            e = w * (t * (pb - pa) + r * (fa - fb))
            a0 += p
            a1 += p * j
            a2 += p * j * j
            b0 += e
            b1 += e * j
            pa, fa = pb, fb
            j += 1.0
    z, d = _solve_affine(a0, a1, a2, b0, b1)
    if math.isnan(d):
        return step, zero
    return step * d, zero + step * z


@njit(cache=True, error_model="numpy")
def _design_rows(tab, mean, std, lam, count, shrinks, lloyd_iters, step_out, zero_out, dist_out):
    for r in range(mean.shape[0]):
        m, s, w = mean[r], std[r], lam[r]
        lo, hi = m.min(), m.max()
        if hi - lo <= 1e-12 * max(abs(lo), abs(hi), 1e-30):
            # constant row: any grid with a level at the value is exact
            step = max(abs(lo), 1.0) * 2.0 ** -20
            zero = lo
            step_out[r], zero_out[r] = step, zero
            dist_out[r] = grid_error_sum(tab, m, s, w, step, zero, count)
            continue
        center, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        best, best_step, best_zero = np.inf, 0.0, 0.0
        for p in shrinks:
            step = 2.0 * p * half / (count - 1)
            zero = center - p * half
            d = grid_error_sum(tab, m, s, w, step, zero, count, best)
            if d < best:
                best, best_step, best_zero = d, step, zero
        step, zero = best_step, best_zero
        for _ in range(lloyd_iters):
            step, zero = _grid_refit(tab, m, s, w, count, step, zero)
            d = grid_error_sum(tab, m, s, w, step, zero, count, best)
            if d < best:
                best, best_step, best_zero = d, step, zero
            else:
                break
        step_out[r], zero_out[r], dist_out[r] = best_step, best_zero, best


def _rows(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = np.ascontiguousarray(mean, np.float64)
    s = np.ascontiguousarray(std, np.float64)
    if m.ndim != 2 or s.shape != m.shape:
        raise ValueError("mean and std must be matching 2-D arrays (rows × columns)")
    return m, s, 1.0 / (s * s)


def design_grids(mean: np.ndarray, std: np.ndarray, bits: int, shrinks=DEFAULT_SHRINKS, lloyd_iters: int = 1) -> GridDesign:
    """Per-row uniform grids of ``2**bits`` levels minimising the whitened posterior-expected distortion."""
    m, s, lam = _rows(mean, std)
    tab = one_sided_table()
    r = m.shape[0]
    step, zero, dist = np.empty(r), np.empty(r), np.empty(r)
    _design_rows(tab, m, s, lam, 1 << bits, np.asarray(shrinks, np.float64), lloyd_iters, step, zero, dist)
    return GridDesign(bits, step, zero, dist)


@njit(cache=True)
def _minmax_rows(tab, mean, std, lam, count, step_out, zero_out, dist_out):
    for r in range(mean.shape[0]):
        lo, hi = mean[r].min(), mean[r].max()
        step = (hi - lo) / (count - 1) if hi > lo else max(abs(lo), 1.0) * 2.0 ** -20
        step_out[r], zero_out[r] = step, lo
        dist_out[r] = grid_error_sum(tab, mean[r], std[r], lam[r], step, lo, count)


def minmax_grids(mean: np.ndarray, std: np.ndarray, bits: int) -> GridDesign:
    """Per-row min–max grids (asymmetric round-to-nearest), with their whitened expected distortion."""
    m, s, lam = _rows(mean, std)
    tab = one_sided_table()
    r = m.shape[0]
    step, zero, dist = np.empty(r), np.empty(r), np.empty(r)
    _minmax_rows(tab, m, s, lam, 1 << bits, step, zero, dist)
    return GridDesign(bits, step, zero, dist)


# --------------------------------------------------------------------------- non-uniform codebooks
@njit(cache=True)
def _codebook_update(tab, mean, std, lam, levels, scale, zero, acc_p, acc_m1):
    """One weighted Lloyd step of the shared normalised codebook (rows in their own coordinates)."""
    acc_p[:] = 0.0
    acc_m1[:] = 0.0
    for r in range(mean.shape[0]):
        # normalised coordinate u = (w - z)/a ~ N((m - z)/a, (s/a)²); error weight λ·a²
        _add_moments(tab, mean[r], std[r], lam[r], levels, zero[r], scale[r], acc_p, acc_m1)
    new = levels.copy()
    for k in range(levels.shape[0]):
        if acc_p[k] > 0.0:
            new[k] = acc_m1[k] / acc_p[k]
    new.sort()
    return new


@njit(cache=True)
def _row_errors(mean, std, lam, levels, scale, zero, out):
    count = levels.shape[0]
    for r in range(mean.shape[0]):
        cur = zero[r] + scale[r] * levels
        bounds = 0.5 * (cur[1:] + cur[:-1])
        total = 0.0
        for i in range(mean.shape[1]):
            m, s = mean[r, i], std[r, i]
            lo = np.searchsorted(bounds, m - WINDOW * s)
            hi = np.searchsorted(bounds, m + WINDOW * s)
            e = 0.0
            for k in range(lo, hi + 1):
                al = 0.0 if k == 0 else (bounds[k - 1] - m) / s
                be = 0.0 if k == count - 1 else (bounds[k] - m) / s
                pa, fa, afa = (0.0, 0.0, 0.0) if k == 0 else _point(al)
                pb, fb, bfb = (1.0, 0.0, 0.0) if k == count - 1 else _point(be)
                d = m - cur[k]
                e += (d * d + s * s) * (pb - pa) + 2.0 * d * s * (fa - fb) + s * s * (afa - bfb)
            total += lam[r, i] * e
        out[r] = total


def codebook_errors(mean: np.ndarray, std: np.ndarray, levels: np.ndarray, scale: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Exact whitened expected distortion per row of the levels ``zero[r] + scale[r]·levels``."""
    m, s, lam = _rows(mean, std)
    out = np.empty(m.shape[0])
    _row_errors(m, s, lam, np.ascontiguousarray(levels, np.float64), np.asarray(scale, np.float64),
                np.asarray(zero, np.float64), out)
    return out


@njit(cache=True)
def _refit_rows(tab, mean, std, lam, levels, scale, zero, acc_p, acc_m1):
    for r in range(mean.shape[0]):
        scale[r], zero[r] = _affine_refit(tab, mean[r], std[r], lam[r], levels, scale[r], zero[r], acc_p, acc_m1)


_LLOYD_MAX: dict[int, np.ndarray] = {}


def unit_lloyd_max(bits: int) -> np.ndarray:
    """Lloyd–Max levels of N(0, 1) with ``2**bits`` levels, scaled to [-1, 1]."""
    if bits not in _LLOYD_MAX:
        levels, _ = lloyd_max_gaussian(1 << bits)
        _LLOYD_MAX[bits] = levels / levels[-1]
    return _LLOYD_MAX[bits]


def design_codebooks(mean: np.ndarray, std: np.ndarray, bits: int, grid: GridDesign | None = None,
                     iterations: int = 4, levels: np.ndarray | None = None, learn: bool = True) -> CodebookDesign:
    """A shared normalised codebook (Lloyd–Max in whitened space) with per-row affine maps.

    Rows start from their searched uniform grid (``grid``, designed here if not given): the
    extreme levels coincide; the codebook starts from the N(0, 1) Lloyd–Max levels. Each iteration
    updates the codebook (weighted centroids) and then every row's ``(scale, zero)``; the design
    with the lowest total distortion is kept. ``levels`` (ascending, in [-1, 1]) replaces the
    starting codebook; with ``learn=False`` it stays fixed and only the rows' maps are fitted.
    """
    m, s, lam = _rows(mean, std)
    grid = grid if grid is not None else design_grids(m, s, bits)
    count = 1 << bits
    half = 0.5 * grid.step * (count - 1)
    scale = half.copy()
    zero = grid.zero + half
    levels = (unit_lloyd_max(bits) if levels is None else np.asarray(levels)).astype(np.float64).copy()
    acc_p, acc_m1 = np.empty(count), np.empty(count)
    tab = one_sided_table()
    _refit_rows(tab, m, s, lam, levels, scale, zero, acc_p, acc_m1)
    dist = codebook_errors(m, s, levels, scale, zero)
    best = (dist.sum(), levels.copy(), scale.copy(), zero.copy(), dist)
    for _ in range(iterations):
        if learn:
            levels = _codebook_update(tab, m, s, lam, levels, scale, zero, acc_p, acc_m1)
        _refit_rows(tab, m, s, lam, levels, scale, zero, acc_p, acc_m1)
        dist = codebook_errors(m, s, levels, scale, zero)
        if dist.sum() < best[0]:
            best = (dist.sum(), levels.copy(), scale.copy(), zero.copy(), dist)
        else:
            break
    _, levels, scale, zero, dist = best
    return CodebookDesign(bits, levels, scale, zero, dist)
