"""Jitted symbol lookups shared by the coders (``specs/range-coder.md`` §4 and §6).

Table models: the decoder's lookup table of the first symbol of each bucket of
``2^(precision - bits)`` slots (the coders search the bucket inline).
Parametric models: the integer CDF ``F(j)`` evaluated on the fly from a committed grid, the
escape payload's layout, and the exact slot -> bin search started from an approximate inverse.

All integer arithmetic that reaches the stream is int64/uint64 and exact; the only floating-point
steps are the spec's ``x = (e - mean) * (1 / max(scale, 2^-40))`` and ``floor((x + X) * 2^(s+16))``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "lut_bits",
    "build_lut",
    "SCALE_FLOOR",
    "SUB_BITS",
    "grid_cdf",
    "param_edge",
    "param_find",
    "inverse_table",
    "INVERSE_BITS",
    "escape_bits",
    "param_information",
]

#: Budget of lookup-table entries (uint16) across all rows of one table model.
LUT_ENTRIES = 1 << 21
#: Scales below this are used as this value (keeps 1 / scale finite).
SCALE_FLOOR = 2.0**-40
#: Fraction bits of the position between two grid points.
SUB_BITS = 16
_SUB_MASK = (1 << SUB_BITS) - 1
#: The decoder's approximate inverse-CDF table has ``2^INVERSE_BITS`` entries (<= the least precision).
INVERSE_BITS = 10


# ---------------------------------------------------------------------------- table models
def lut_bits(num_models: int, precision: int) -> int:
    """Bucket bits of the decoder lookup table: at most 12 (8 KiB a row stays in L1, which measured
    faster than a 16-bit table searched less), fewer when the entry budget requires."""
    bits = min(precision, 12)
    while bits > 0 and num_models * ((1 << bits) + 1) > LUT_ENTRIES:
        bits -= 1
    return bits


@njit(cache=True, nogil=True)
def build_lut(cdf: np.ndarray, sizes: np.ndarray, precision: int, bits: int) -> np.ndarray:
    """``lut[m, b]``: the symbol index whose interval holds slot ``b << (precision - bits)``.

    ``lut[m, 2^bits]`` is the last symbol, so a slot of bucket ``b`` lies in symbols ``lut[m, b] ..
    lut[m, b + 1]``.
    """
    shift = precision - bits
    nb = 1 << bits
    lut = np.empty((cdf.shape[0], nb + 1), np.uint16)
    for m in range(cdf.shape[0]):
        k = 0
        for b in range(nb):
            slot = b << shift
            while cdf[m, k + 1] <= slot:
                k += 1
            lut[m, b] = k
        lut[m, nb] = sizes[m] - 1
    return lut


# ---------------------------------------------------------------------------- parametric models
@njit(cache=True)
def grid_cdf(x: float, grid: np.ndarray, bound: float, mul: float) -> np.int64:
    """The standard CDF at ``x`` as a 32-bit fixed-point integer, by interpolating ``grid``.

    Non-decreasing in ``x`` by construction: clamp, ``u = floor((x + X) * 2^(s+16))``, then
    ``g[i] + ((g[i+1] - g[i]) * (u mod 2^16)) >> 16`` with ``i = u >> 16``.
    """
    last = grid.shape[0] - 1
    if x <= -bound:
        return grid[0]
    if x >= bound:
        return grid[last]
    u = np.int64(np.floor((x + bound) * mul))
    i = u >> SUB_BITS
    if i >= last:
        return grid[last]
    g0 = grid[i]
    return g0 + (((grid[i + 1] - g0) * (u & _SUB_MASK)) >> SUB_BITS)


@njit(cache=True)
def param_edge(
    j: int, size: int, spread: int, total: int, first: float, mean: float, inv: float,
    grid: np.ndarray, bound: float, mul: float,
) -> int:
    """``F(j)``: cumulative frequency below bin ``j`` of a ``size``-bin parametric model.

    ``F(0) = 0``, ``F(size) = total``, else ``j + (G(x) * spread) >> 32`` with ``spread = total - size``
    and ``x = ((first + j) - 0.5 - mean) * inv``, ``first`` being the value of bin 0.
    """
    if j <= 0:
        return 0
    if j >= size:
        return total
    x = ((first + j) - 0.5 - mean) * inv
    return j + ((grid_cdf(x, grid, bound, mul) * spread) >> 32)


@njit(cache=True)
def param_find(
    slot: int, guess: int, size: int, spread: int, total: int, first: float, mean: float, inv: float,
    grid: np.ndarray, bound: float, mul: float,
) -> tuple[int, int, int]:
    """``(j, F(j), F(j + 1))`` with ``F(j) <= slot < F(j + 1)``: galloping search from ``guess``, then bisection."""
    g = min(max(guess, 0), size - 1)
    fg = param_edge(g, size, spread, total, first, mean, inv, grid, bound, mul)
    if fg <= slot:
        lo, flo = g, fg
        step = 1
        hi = lo + 1
        while True:
            if hi >= size:
                hi, fhi = size, total
                break
            fh = param_edge(hi, size, spread, total, first, mean, inv, grid, bound, mul)
            if fh > slot:
                fhi = fh
                break
            lo, flo = hi, fh
            step *= 2
            hi = lo + step
    else:
        hi, fhi = g, fg
        step = 1
        lo = hi - 1
        while True:
            if lo <= 0:
                lo, flo = 0, 0
                break
            fl = param_edge(lo, size, spread, total, first, mean, inv, grid, bound, mul)
            if fl <= slot:
                flo = fl
                break
            hi, fhi = lo, fl
            step *= 2
            lo = hi - step
    while hi - lo > 1:  # invariant: F(lo) <= slot < F(hi)
        mid = (lo + hi) >> 1
        fm = param_edge(mid, size, spread, total, first, mean, inv, grid, bound, mul)
        if fm <= slot:
            lo, flo = mid, fm
        else:
            hi, fhi = mid, fm
    return lo, flo, fhi


def inverse_table(grid: np.ndarray, bound: int, shift: int) -> np.ndarray:
    """Approximate standard quantiles at ``u = (i + 1/2) / 2^INVERSE_BITS`` (decoder guesses only, never in the stream)."""
    xs = -bound + np.arange(grid.shape[0]) / float(1 << shift)
    u = (np.arange(1 << INVERSE_BITS) + 0.5) / (1 << INVERSE_BITS) * float(1 << 32)
    keep = np.concatenate(([True], np.diff(grid) > 0))
    return np.interp(u, grid[keep].astype(np.float64), xs[keep])


@njit(cache=True)
def escape_bits(distance: int) -> int:
    """``n = floor(log2(distance + 1))``: the escape payload's length field (§6.4)."""
    v = distance + 1
    n = 0
    while v > 1:
        v >>= 1
        n += 1
    return n


@njit(cache=True, nogil=True)
def param_information(symbols, indexes, identity, mean, scale, lo, hi, escape, precision, grid, bound, mul):
    """Ideal bits under the integer parametric model (escape payloads count their raw bits).

    Returns ``(bits, err, errpos)`` with the error codes of the encoder.
    """
    bits = 0.0
    total = np.int64(1) << precision
    first = lo - 1 if escape else lo
    size = hi - first + 1 + (1 if escape else 0)
    spread = total - size
    nparams = mean.shape[0]
    for i in range(symbols.shape[0]):
        m = i
        if not identity:
            m = np.int64(indexes[i])
            if m < 0 or m >= nparams:
                return bits, 2, i
        sym = np.int64(symbols[i])
        extra = 0
        if sym < lo or sym > hi:
            if not escape:
                return bits, 1, i
            j = 0 if sym < lo else size - 1
            extra = 6 + escape_bits(lo - 1 - sym if sym < lo else sym - hi - 1)
        else:
            j = sym - first
        inv = 1.0 / max(scale[m], SCALE_FLOOR)
        start = param_edge(j, size, spread, total, float(first), mean[m], inv, grid, bound, mul)
        end = param_edge(j + 1, size, spread, total, float(first), mean[m], inv, grid, bound, mul)
        bits += precision - np.log2(float(end - start)) + extra
    return bits, 0, symbols.shape[0]
