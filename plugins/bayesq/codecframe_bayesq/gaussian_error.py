"""Closed-form posterior-expected squared error of scalar quantizers under a Gaussian, and its tables.

For ``w ~ N(m, σ²)`` and a cell ``(a, b]`` reconstructed to ``c``, with ``α = (a-m)/σ``,
``β = (b-m)/σ`` and ``d = m - c``::

    E[(w - c)²; a < w <= b] = (d² + σ²)(Φ(β) - Φ(α)) + 2dσ(φ(α) - φ(β)) + σ²(αφ(α) - βφ(β))

:func:`quantizer_error` sums this over the cells of any scalar quantizer (exact; cells more than
``WINDOW`` standard deviations away are skipped, their mass is below 1e-18).

Uniform grids are evaluated from **tables** instead (:func:`grid_error`). In grid units
(levels ``0..L-1``, ``y ~ N(t, ρ²)`` with ``t = (m - z)/Δ`` and ``ρ = σ/Δ``) the error of an
``L``-level grid is exactly ::

    h_L(t, ρ) = S(t, ρ) + S(L-1-t, ρ) - P(t, ρ)

where ``S`` is the error of the one-sided grid ``{0, 1, 2, ...}`` and ``P`` that of the infinite
lattice (periodic in ``t``; ``P = S`` far inside). So one table ``S(u, ρ)``, independent of ``L``,
serves every bit width. It is built once per process from the exact formula and read with bilinear
interpolation; ``ρ > RHO_MAX`` uses the smooth large-ρ limit (Bennett's ``1/12`` inside the grid),
with Φ and φ read from cubic Hermite tables (nodes every 1/128 on [-10, 10], absolute errors
below 2e-11): ``erfc`` and ``exp`` would cost most of the search's time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "WINDOW",
    "RHO_MAX",
    "RHO_NARROW",
    "quantizer_error",
    "uniform_levels_error",
    "grid_error",
    "grid_error_sum",
    "one_sided_error",
    "one_sided_table",
    "lloyd_max_gaussian",
    "best_uniform_gaussian",
]

#: Cells further than this many standard deviations from the mean are skipped.
WINDOW = 9.0
#: Largest ρ = σ/Δ the tables cover; beyond it the large-ρ limit is used.
RHO_MAX = 4.0
#: Below this ρ = σ/Δ the uniform-grid error is computed exactly from at most three cells (the
#: window of WINDOW·ρ then stays within the neighbouring cells); above it, from the tables.
RHO_NARROW = 1.0 / WINDOW
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Two rectangular tables over (u, ρ): fine for ρ <= 1, coarse for 1 <= ρ <= RHO_MAX.
_FINE_RHO_STEP, _FINE_U_STEP, _FINE_U = 1.0 / 64.0, 1.0 / 128.0, 10.0
_COARSE_RHO_STEP, _COARSE_U_STEP, _COARSE_U = 1.0 / 8.0, 1.0 / 16.0, 8.0 * RHO_MAX + 2.0
# Cubic Hermite table of Φ on [-_PHI_A, _PHI_A] (beyond: 0 or 1, off by less than 8e-24).
_PHI_A, _PHI_STEP = 10.0, 1.0 / 128.0


@njit(cache=True, inline="always")
def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


@njit(cache=True, inline="always")
def _pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@njit(cache=True, inline="always")
def _point(x: float) -> tuple[float, float, float]:
    """(Φ(x), φ(x), x·φ(x)); exact limits beyond |x| = 40 (also for infinite x)."""
    if x <= -40.0:
        return 0.0, 0.0, 0.0
    if x >= 40.0:
        return 1.0, 0.0, 0.0
    f = _pdf(x)
    return _cdf(x), f, x * f


@njit(cache=True, inline="always")
def _cell(m: float, s: float, a: float, b: float, c: float) -> float:
    """E[(w - c)²; a < w <= b] for w ~ N(m, s²), s > 0 (a may be -inf, b may be +inf)."""
    d = m - c
    pa, fa, afa = _point((a - m) / s) if a != -np.inf else (0.0, 0.0, 0.0)
    pb, fb, bfb = _point((b - m) / s) if b != np.inf else (1.0, 0.0, 0.0)
    return (d * d + s * s) * (pb - pa) + 2.0 * d * s * (fa - fb) + s * s * (afa - bfb)


@njit(cache=True)
def _error_one(m: float, s: float, levels: np.ndarray, bounds: np.ndarray) -> float:
    """Exact expected squared error of one weight; ``bounds`` are the K-1 inner thresholds."""
    k_count = levels.shape[0]
    if s <= 0.0:
        k = np.searchsorted(bounds, m, side="left")
        d = m - levels[k]
        return d * d
    lo = np.searchsorted(bounds, m - WINDOW * s, side="left")
    hi = np.searchsorted(bounds, m + WINDOW * s, side="left")
    total = 0.0
    for k in range(lo, hi + 1):
        a = -np.inf if k == 0 else bounds[k - 1]
        b = np.inf if k == k_count - 1 else bounds[k]
        total += _cell(m, s, a, b, levels[k])
    return total


@njit(cache=True)
def _errors(mean: np.ndarray, std: np.ndarray, levels: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    out = np.empty(mean.shape[0])
    for i in range(mean.shape[0]):
        out[i] = _error_one(mean[i], std[i], levels, bounds)
    return out


def quantizer_error(mean, std, levels, bounds=None) -> np.ndarray:
    """Exact ``E[(w - Q(w))²]`` per element for ``w ~ N(mean, std²)``.

    ``levels`` (K,) sorted reconstruction points; ``bounds`` (K-1,) the thresholds between cells
    (default: midpoints, i.e. nearest-level quantization). ``std == 0`` gives the plain rounding error.
    """
    lv = np.ascontiguousarray(levels, np.float64)
    if lv.ndim != 1 or lv.size < 1 or np.any(np.diff(lv) < 0):
        raise ValueError("levels must be a non-empty sorted 1-D array")
    bd = 0.5 * (lv[1:] + lv[:-1]) if bounds is None else np.ascontiguousarray(bounds, np.float64)
    if bd.shape != (lv.size - 1,) or np.any(np.diff(bd) < 0):
        raise ValueError("bounds must be K-1 sorted thresholds")
    m = np.ascontiguousarray(np.ravel(mean), np.float64)
    s = np.ascontiguousarray(np.broadcast_to(np.ravel(std) if np.ndim(std) else std, m.shape), np.float64)
    return _errors(m, s, lv, bd).reshape(np.shape(mean))


def uniform_levels_error(mean, std, step: float, zero: float, count: int) -> np.ndarray:
    """Exact error of the ``count``-level grid ``zero + k·step`` (reference for :func:`grid_error`)."""
    return quantizer_error(mean, std, zero + step * np.arange(count, dtype=np.float64))


# --------------------------------------------------------------------------- one-sided grid S(u, ρ)
@njit(cache=True)
def _one_sided_exact(u: float, rho: float) -> float:
    """Error of y ~ N(u, ρ²) quantized to the nearest of {0, 1, 2, ...} (exact)."""
    if rho <= 0.0:
        k = 0.0 if u <= 0.5 else math.floor(u + 0.5)
        if u > 0.5 and u - math.floor(u) == 0.5:
            k = u - 0.5  # cells are (k - 1/2, k + 1/2]
        return (u - k) ** 2
    lo = max(0, int(math.floor(u - WINDOW * rho + 0.5)))
    hi = max(0, int(math.ceil(u + WINDOW * rho + 0.5)))
    total = 0.0
    for k in range(lo, hi + 1):
        a = -np.inf if k == 0 else k - 0.5
        total += _cell(u, rho, a, k + 0.5, float(k))
    # Cells above ``hi`` hold less than 1e-18 of the mass.
    return total


@njit(cache=True)
def _build(u_max: float, u_step: float, rho_lo: float, rho_step: float, n_rho: int) -> np.ndarray:
    n_u = int(round(2.0 * u_max / u_step)) + 1
    out = np.empty((n_rho, n_u))
    for j in range(n_rho):
        rho = rho_lo + j * rho_step
        for i in range(n_u):
            out[j, i] = _one_sided_exact(-u_max + i * u_step, rho)
    return out


# Both tables live in one read-only 1-D array (fine rows first, then coarse) and the kernels pick a
# table by scalar offsets: in numba, choosing between two array arguments inside a branch costs
# reference counting on every call, several times the table read itself.
_FINE_ROWS, _FINE_COLS = int(round(1.0 / _FINE_RHO_STEP)) + 1, int(round(2.0 * _FINE_U / _FINE_U_STEP)) + 1
_COARSE_ROWS = int(round((RHO_MAX - 1.0) / _COARSE_RHO_STEP)) + 1
_COARSE_COLS = int(round(2.0 * _COARSE_U / _COARSE_U_STEP)) + 1
_COARSE_BASE = _FINE_ROWS * _FINE_COLS
_PHI_NODES = int(round(2.0 * _PHI_A / _PHI_STEP)) + 1
_PHI_BASE = _COARSE_BASE + _COARSE_ROWS * _COARSE_COLS
_TABLE: np.ndarray | None = None


@njit(cache=True)
def _build_phi() -> np.ndarray:
    """Interleaved ``Φ(a_j), φ(a_j)`` at the nodes ``a_j = -_PHI_A + j·_PHI_STEP``."""
    out = np.empty(2 * _PHI_NODES)
    for j in range(_PHI_NODES):
        a = -_PHI_A + j * _PHI_STEP
        out[2 * j] = _cdf(a)
        out[2 * j + 1] = _pdf(a)
    return out


def one_sided_table() -> np.ndarray:
    """The precomputed tables of S (fine: ρ in [0, 1]; coarse: ρ in [1, RHO_MAX]) and of Φ, packed
    into one read-only array (row-major, fine, coarse, then Φ/φ nodes); built on first use."""
    global _TABLE
    if _TABLE is None:
        fine = _build(_FINE_U, _FINE_U_STEP, 0.0, _FINE_RHO_STEP, _FINE_ROWS)
        coarse = _build(_COARSE_U, _COARSE_U_STEP, 1.0, _COARSE_RHO_STEP, _COARSE_ROWS)
        packed = np.concatenate((fine.ravel(), coarse.ravel(), _build_phi()))
        packed.flags.writeable = False
        _TABLE = packed
    return _TABLE


@njit(cache=True, inline="always")
def _phi_table(tab: np.ndarray, a: float) -> tuple[float, float]:
    """(Φ(a), φ(a)) by cubic Hermite interpolation of the nodes' Φ, φ and slopes φ, -aφ (absolute
    errors < 2e-11); 0 or 1 and 0 beyond ±_PHI_A."""
    if not a > -_PHI_A:
        return 0.0, 0.0
    if a >= _PHI_A:
        return 1.0, 0.0
    x = (a + _PHI_A) / _PHI_STEP
    j = min(int(x), _PHI_NODES - 2)
    t = x - j
    k = _PHI_BASE + 2 * j
    t2 = t * t
    t3 = t2 * t
    h00, h01 = 2.0 * t3 - 3.0 * t2 + 1.0, 3.0 * t2 - 2.0 * t3
    h10, h11 = _PHI_STEP * (t3 - 2.0 * t2 + t), _PHI_STEP * (t3 - t2)
    a0 = -_PHI_A + j * _PHI_STEP
    f0, f1 = tab[k + 1], tab[k + 3]
    cdf = tab[k] * h00 + tab[k + 2] * h01 + f0 * h10 + f1 * h11
    pdf = f0 * h00 + f1 * h01 - a0 * f0 * h10 - (a0 + _PHI_STEP) * f1 * h11
    return cdf, pdf


@njit(cache=True, inline="always")
def _point_table(tab: np.ndarray, x: float) -> tuple[float, float, float]:
    """(Φ(x), φ(x), x·φ(x)) from the Hermite table (like :func:`_point`)."""
    p, f = _phi_table(tab, x)
    return p, f, x * f


@njit(cache=True, inline="always")
def _bilinear(tab: np.ndarray, base: int, n_rows: int, n_cols: int, u_max: float, u_step: float, rho_lo: float,
              rho_step: float, u: float, rho: float) -> float:
    """Bilinear read of the table at ``tab[base:]`` (``n_rows × n_cols``), linear in ρ² between ρ nodes
    (exact for the σ² term)."""
    x = (u + u_max) / u_step
    i = min(int(x), n_cols - 2)
    fx = x - i
    y = (rho - rho_lo) / rho_step
    j = min(int(y), n_rows - 2)
    r0 = rho_lo + j * rho_step
    r1 = r0 + rho_step
    fy = (rho * rho - r0 * r0) / (r1 * r1 - r0 * r0)
    k = base + j * n_cols + i
    top = tab[k] + fx * (tab[k + 1] - tab[k])
    bot = tab[k + n_cols] + fx * (tab[k + n_cols + 1] - tab[k + n_cols])
    return top + fy * (bot - top)


@njit(cache=True, inline="always")
def _one_sided(tab: np.ndarray, u: float, rho: float) -> float:
    """S(u, ρ) from the tables; above RHO_MAX the large-ρ limit
    ``E[y²; y <= 1/2] + (1/12)·P(y > 1/2)`` for y ~ N(u, ρ²), with Φ and φ from the Hermite table."""
    if rho > RHO_MAX:
        a = (0.5 - u) / rho
        p, f = _phi_table(tab, a)
        return ((u * u + rho * rho) * p - rho * (u + 0.5) * f) + (1.0 / 12.0) * (1.0 - p)
    if rho <= 1.0:
        base, n_rows, n_cols, u_max, u_step, rho_lo, rho_step = \
            0, _FINE_ROWS, _FINE_COLS, _FINE_U, _FINE_U_STEP, 0.0, _FINE_RHO_STEP
    else:
        base, n_rows, n_cols, u_max, u_step, rho_lo, rho_step = \
            _COARSE_BASE, _COARSE_ROWS, _COARSE_COLS, _COARSE_U, _COARSE_U_STEP, 1.0, _COARSE_RHO_STEP
    if u < -u_max:
        return u * u + rho * rho
    if u > u_max - 1.0:
        u = u_max - 1.0 + (u - math.floor(u))
    return _bilinear(tab, base, n_rows, n_cols, u_max, u_step, rho_lo, rho_step, u, rho)


@njit(cache=True, inline="always")
def _lattice(tab: np.ndarray, t: float, rho: float) -> float:
    """P(t, ρ): error of the infinite lattice (1/12 beyond ρ = 1 to within 3e-9)."""
    if rho > 1.0:
        return 1.0 / 12.0
    return _bilinear(tab, 0, _FINE_ROWS, _FINE_COLS, _FINE_U, _FINE_U_STEP, 0.0, _FINE_RHO_STEP,
                     _FINE_U - 1.0 + (t - math.floor(t)), rho)


@njit(cache=True, inline="always")
def _grid_units(tab: np.ndarray, t: float, rho: float, count: int) -> float:
    """h_L(t, ρ) in grid units (Δ = 1).

    Narrow posteriors (ρ < RHO_NARROW) take an exact shortcut: away from the cell's thresholds the
    error is ``(t - k)² + ρ²``; within ``WINDOW·ρ`` of one, the three neighbouring cells are summed.
    """
    if rho < RHO_NARROW:
        k = min(max(math.floor(t + 0.5), 0.0), count - 1.0)
        near_lo = k > 0.0 and t - (k - 0.5) < WINDOW * rho
        near_hi = k < count - 1.0 and (k + 0.5) - t < WINDOW * rho
        if not (near_lo or near_hi):
            return (t - k) ** 2 + rho * rho
        total = 0.0
        for j in range(int(max(k - 1.0, 0.0)), int(min(k + 1.0, count - 1.0)) + 1):
            a = -np.inf if j == 0 else j - 0.5
            b = np.inf if j == count - 1 else j + 0.5
            total += _cell(t, rho, a, b, float(j))
        return total
    margin = WINDOW * rho + 1.0
    if t > margin and count - 1.0 - t > margin:  # far from both ends: the infinite lattice
        return _lattice(tab, t, rho)
    h = _one_sided(tab, t, rho) + _one_sided(tab, count - 1.0 - t, rho) - _lattice(tab, t, rho)
    return h if h > 0.0 else 0.0


@njit(cache=True)
def _grid_error(tab, mean, std, step, zero, count, out):
    for i in range(mean.shape[0]):
        out[i] = step * step * _grid_units(tab, (mean[i] - zero) / step, std[i] / step, count)


@njit(cache=True, error_model="numpy")
def grid_error_sum(tab: np.ndarray, mean: np.ndarray, std: np.ndarray, weight: np.ndarray,
                   step: float, zero: float, count: int, bound: float = np.inf) -> float:
    """Σ_i weight_i · E[(w_i - Q(w_i))²] for one grid (``tab``: :func:`one_sided_table`, weights > 0).

    With a finite ``bound`` the sum is abandoned (``inf`` is returned) as soon as its partial sum
    exceeds ``bound·(1 + 1e-6)``: the terms are non-negative, so the full sum would exceed ``bound``
    too. Otherwise the value is the same to the bit.
    """
    total = 0.0
    limit = bound * (1.0 + 1e-6) / (step * step)
    for i in range(mean.shape[0]):
        total += weight[i] * _grid_units(tab, (mean[i] - zero) / step, std[i] / step, count)
        if (i & 15) == 15 and total > limit:
            return np.inf
    return total * step * step


def grid_error(mean, std, step: float, zero: float, count: int) -> np.ndarray:
    """Table-based ``E[(w - Q(w))²]`` per element for the grid ``zero + k·step``, k = 0..count-1."""
    if not (step > 0 and math.isfinite(step)) or count < 2:
        raise ValueError("step must be positive and finite and count >= 2")
    m = np.ascontiguousarray(np.ravel(mean), np.float64)
    s = np.ascontiguousarray(np.broadcast_to(np.ravel(std) if np.ndim(std) else std, m.shape), np.float64)
    out = np.empty(m.shape[0])
    _grid_error(one_sided_table(), m, s, float(step), float(zero), int(count), out)
    return out.reshape(np.shape(mean))


def one_sided_error(u, rho, exact: bool = False) -> np.ndarray:
    """S(u, ρ) from the tables, or from the exact sum when ``exact``."""
    u = np.asarray(u, np.float64)
    rho = np.broadcast_to(np.asarray(rho, np.float64), u.shape)
    tab = one_sided_table()
    flat = [(_one_sided_exact(a, b) if exact else _one_sided(tab, a, b)) for a, b in zip(u.ravel(), rho.ravel())]
    return np.asarray(flat).reshape(u.shape)


# --------------------------------------------------------------------------- unit-Gaussian designs
def lloyd_max_gaussian(count: int, iterations: int = 500, tol: float = 1e-13) -> tuple[np.ndarray, float]:
    """Lloyd–Max levels for N(0, 1) with ``count`` levels and their mean squared error (Max 1960)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    # Start from the best uniform grid; each Lloyd step uses exact Gaussian partial moments.
    step, _ = best_uniform_gaussian(count)
    levels = (np.arange(count) - (count - 1) / 2.0) * step
    from scipy.special import ndtr

    for _ in range(iterations):
        bounds = np.concatenate(([-np.inf], 0.5 * (levels[1:] + levels[:-1]), [np.inf]))
        mass = ndtr(bounds[1:]) - ndtr(bounds[:-1])
        pdf = np.exp(-0.5 * np.where(np.isfinite(bounds), bounds, 0.0) ** 2) / math.sqrt(2 * math.pi)
        pdf = np.where(np.isfinite(bounds), pdf, 0.0)
        new = (pdf[:-1] - pdf[1:]) / mass
        done = np.max(np.abs(new - levels)) < tol
        levels = new
        if done:
            break
    return levels, float(quantizer_error(np.zeros(1), np.ones(1), levels)[0])


def best_uniform_gaussian(count: int) -> tuple[float, float]:
    """Step (in σ) of the symmetric ``count``-level uniform quantizer minimising MSE for N(0, 1), and the MSE."""
    from scipy.optimize import minimize_scalar

    def mse(step: float) -> float:
        levels = (np.arange(count) - (count - 1) / 2.0) * step
        return float(quantizer_error(np.zeros(1), np.ones(1), levels)[0])

    if count == 1:
        return 1.0, 1.0
    res = minimize_scalar(mse, bounds=(1e-3, 8.0 / math.sqrt(count)), method="bounded", options={"xatol": 1e-10})
    return float(res.x), float(res.fun)
