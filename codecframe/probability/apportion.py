"""Integer frequency tables from counts: the apportionment of ``specs/range-coder.md`` section 5.

Every symbol starts with frequency 1; the remaining ``2^precision - A`` units go one at a time to
the symbol whose next unit has the highest priority ``c_i / (2 f_i + 1)`` (ties: lowest index).
This is the Sainte-Laguë divisor method with a floor of one, which keeps every frequency close
to ``c_i * 2^precision / C`` in the relative sense that matters for code length.

The kernels compute the same result fast: start from the rounded proportional share (already a
prefix of the greedy order), then add or remove single units through a binary heap. Every
comparison is an exact int64 cross-multiplication; callers keep row sums below ``2^37``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["MAX_COUNT_SUM", "PMF_SCALE", "apportion_rows", "pmf_to_counts"]

#: Largest allowed sum of one row of counts (keeps every product below 2^63).
MAX_COUNT_SUM = (1 << 37) - 1
#: A float PMF row is scaled to counts summing to about ``PMF_SCALE`` before apportionment.
PMF_SCALE = float(1 << 36)


@njit(cache=True)
def _better(c: np.ndarray, f: np.ndarray, i: int, j: int, add: bool) -> bool:
    """Whether symbol ``i`` comes before ``j`` in the heap.

    add: next unit of ``i`` has higher priority c/(2f+1) (ties: lower index first).
    remove: last unit of ``i`` has lower priority c/(2f-1) (ties: higher index first).
    """
    if add:
        lhs = c[i] * (2 * f[j] + 1)
        rhs = c[j] * (2 * f[i] + 1)
        if lhs != rhs:
            return lhs > rhs
        return i < j
    lhs = c[i] * (2 * f[j] - 1)
    rhs = c[j] * (2 * f[i] - 1)
    if lhs != rhs:
        return lhs < rhs
    return i > j


@njit(cache=True)
def _sift_down(heap: np.ndarray, n: int, pos: int, c: np.ndarray, f: np.ndarray, add: bool) -> None:
    while True:
        best = pos
        left = 2 * pos + 1
        right = left + 1
        if left < n and _better(c, f, heap[left], heap[best], add):
            best = left
        if right < n and _better(c, f, heap[right], heap[best], add):
            best = right
        if best == pos:
            return
        heap[pos], heap[best] = heap[best], heap[pos]
        pos = best


@njit(cache=True)
def _adjust(c: np.ndarray, f: np.ndarray, steps: int, add: bool) -> None:
    """Add (or remove) ``steps`` units in greedy order; ``f`` is updated in place."""
    a = c.shape[0]
    heap = np.empty(a, np.int64)
    n = 0
    for i in range(a):
        if (add and c[i] > 0) or (not add and f[i] > 1):
            heap[n] = i
            n += 1
    for pos in range(n // 2 - 1, -1, -1):
        _sift_down(heap, n, pos, c, f, add)
    for _ in range(steps):
        i = heap[0]
        if add:
            f[i] += 1
        else:
            f[i] -= 1
            if f[i] == 1:
                n -= 1
                heap[0] = heap[n]
        _sift_down(heap, n, 0, c, f, add)


@njit(cache=True)
def _apportion_row(counts: np.ndarray, total: int, out: np.ndarray) -> None:
    a = counts.shape[0]
    c = np.empty(a, np.int64)
    csum = 0
    for i in range(a):
        c[i] = counts[i]
        csum += c[i]
    if csum == 0:
        for i in range(a):
            c[i] = 1
        csum = a
    f = np.empty(a, np.int64)
    fsum = 0
    for i in range(a):
        share = (2 * c[i] * total + csum) // (2 * csum)  # round half up of c_i * total / csum
        f[i] = share if share > 1 else 1
        fsum += f[i]
    if fsum < total:
        _adjust(c, f, total - fsum, True)
    elif fsum > total:
        _adjust(c, f, fsum - total, False)
    for i in range(a):
        out[i] = f[i]


@njit(cache=True, nogil=True)
def apportion_rows(counts: np.ndarray, sizes: np.ndarray, total: int) -> np.ndarray:
    """Frequencies (int64, same shape as ``counts``) for each row's first ``sizes[m]`` counts.

    Entries past a row's size are 0. ``counts`` is int64 (M, A_max), non-negative, each row's
    sum at most :data:`MAX_COUNT_SUM`; ``1 <= sizes[m] <= min(A_max, total)``.
    """
    out = np.zeros(counts.shape, np.int64)
    for m in range(counts.shape[0]):
        size = sizes[m]
        _apportion_row(counts[m, :size], total, out[m, :size])
    return out


@njit(cache=True, nogil=True)
def pmf_to_counts(pmf: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Integer counts (int64) from a float64 PMF: ``floor(p_i / s * 2^36 + 0.5)``.

    ``s`` is the left-to-right IEEE-754 sum of the row's first ``sizes[m]`` entries. The caller
    has checked that entries are finite and non-negative and that every ``s`` is positive and finite.
    """
    out = np.zeros(pmf.shape, np.int64)
    for m in range(pmf.shape[0]):
        s = 0.0
        for i in range(sizes[m]):
            s += pmf[m, i]
        for i in range(sizes[m]):
            out[m, i] = np.int64(np.floor(pmf[m, i] / s * PMF_SCALE + 0.5))
    return out
