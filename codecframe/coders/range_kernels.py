"""Jitted loops of the range coder (``specs/range-coder.md`` §3): 64-bit state, 32-bit words.

Encoder state: ``low`` (uint64) and ``rng`` (uint64, ``2^32 <= rng < 2^64`` between symbols).
A symbol ``(start, freq)`` at precision ``p`` does ``r = rng >> p; low += r * start; rng = r * freq``;
a carry out of ``low`` is added into the words already written; when ``rng < 2^32`` the top word of
``low`` is written and both shift left by 32 (once is always enough since ``p <= 24``).

Every loop returns an error code instead of raising (0 = ok), with the position it stopped at:
1 symbol outside the support, 2 model index out of range, 3 invalid code point, 4 bad escape
payload, 5 escaped value outside int32, 6 internal carry overflow.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..probability.kernels import INVERSE_BITS, SCALE_FLOOR, escape_bits, param_edge, param_find

__all__ = ["encode_table", "decode_table", "encode_param", "decode_param"]

_U32 = np.uint64(32)
_TOP = np.uint64(1 << 32)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1


@njit(cache=True, inline="always")
def _carry(words: np.ndarray, pos: int) -> bool:
    """Add one to the number formed by ``words[:pos]``; False if it would overflow (never for valid input)."""
    i = pos - 1
    while i >= 0 and words[i] == 0xFFFFFFFF:
        words[i] = 0
        i -= 1
    if i < 0:
        return False
    words[i] += 1
    return True


@njit(cache=True)
def _put(words, pos, low, rng, start, freq, p):
    """Encode ``(start, freq)`` outside the hot loops (escape payloads); returns ``(pos, low, rng, ok)``.

    The hot loops spell this out inline: numba optimises a branch inside an inlined helper poorly.
    """
    r = rng >> p
    new = low + r * start
    ok = True
    if new < low:
        ok = _carry(words, pos)
    low = new
    rng = r * freq
    if rng < _TOP:
        words[pos] = np.uint32(low >> _U32)
        pos += 1
        low = low << _U32
        rng = rng << _U32
    return pos, low, rng, ok


@njit(cache=True)
def flush_value(low: np.uint64, rng: np.uint64) -> tuple[np.uint64, bool]:
    """The final code point: the least multiple of ``2^k`` in ``[low, low + rng)`` for the largest ``k``.

    Returns the value modulo 2^64 and whether it carries (the true value is ``2^64`` more).
    """
    if _ZERO - low < rng:  # k = 64: the value 0 (or 2^64)
        return _ZERO, low != _ZERO
    for k in range(63, 31, -1):
        mask = (_ONE << np.uint64(k)) - _ONE
        v = (low + mask) & ~mask
        if v - low < rng:
            return v, v < low
    return _ZERO, False  # unreachable: k = 32 always fits because rng >= 2^32


@njit(cache=True, inline="always")
def _finish(words, pos, low, rng):
    v, carry = flush_value(low, rng)
    ok = True
    if carry:
        ok = _carry(words, pos)
    return v, ok


@njit(cache=True)
def _end(words: np.ndarray, wi: int, point: np.uint64, rng: np.uint64) -> tuple[np.uint64, bool]:
    """§3.6: the final point implied by the last two words read, and whether they equal it."""
    window = (_word(words, wi - 2) << _U32) | _word(words, wi - 1)
    v, _ = flush_value(window - point, rng)
    return v, v == window


@njit(cache=True, inline="always")
def _word(words: np.ndarray, wi: int) -> np.uint64:
    """Word ``wi`` of the stream; words past the end read as 0."""
    if wi < words.shape[0]:
        return np.uint64(words[wi])
    return _ZERO


# ---------------------------------------------------------------------------- table models
@njit(cache=True, nogil=True)
def encode_table(symbols, indexes, single, cdf, sizes, offsets, precision):
    """Encode with a table model; returns ``(words, nwords, flush, err, errpos)``."""
    n = symbols.shape[0]
    words = np.empty(n + 2, np.uint32)  # at most one word per symbol
    pos = 0
    low = _ZERO
    rng = _ONES
    p = np.uint64(precision)
    nmodels = cdf.shape[0]
    for i in range(n):
        m = 0
        if not single:
            m = np.int64(indexes[i])
            if m < 0 or m >= nmodels:
                return words, pos, _ZERO, 2, i
        k = np.int64(symbols[i]) - np.int64(offsets[m])
        if k < 0 or k >= sizes[m]:
            return words, pos, _ZERO, 1, i
        start = np.uint64(cdf[m, k])
        r = rng >> p
        new = low + r * start
        if new < low and not _carry(words, pos):
            return words, pos, _ZERO, 6, i
        low = new
        rng = r * (np.uint64(cdf[m, k + 1]) - start)
        if rng < _TOP:
            words[pos] = np.uint32(low >> _U32)
            pos += 1
            low = low << _U32
            rng = rng << _U32
    v, ok = _finish(words, pos, low, rng)
    return words, pos, v, 0 if ok else 6, n


@njit(cache=True, nogil=True)
def decode_table(words, count, indexes, single, cdf, sizes, offsets, lut, bits, precision):
    """Decode ``count`` symbols; returns ``(symbols, err, errpos, words_read, final_point, final_point_ok)``."""
    out = np.empty(count, np.int32)
    nw = words.shape[0]
    point = (_word(words, 0) << _U32) | _word(words, 1)
    wi = 2
    rng = _ONES
    p = np.uint64(precision)
    total = _ONE << p
    shift = np.uint64(precision - bits)
    nmodels = cdf.shape[0]
    for i in range(count):
        m = 0
        if not single:
            m = np.int64(indexes[i])
            if m < 0 or m >= nmodels:
                return out, 2, i, wi, _ZERO, False
        r = rng >> p
        slot = point // r
        if slot >= total:
            return out, 3, i, wi, _ZERO, False
        b = np.int64(slot >> shift)
        k = np.int64(lut[m, b])
        hi = np.int64(lut[m, b + 1])
        while k < hi:  # the symbol lies in lut[m, b] .. lut[m, b + 1]
            mid = (k + hi + 1) >> 1
            if np.uint64(cdf[m, mid]) <= slot:
                k = mid
            else:
                hi = mid - 1
        start = np.uint64(cdf[m, k])
        point -= r * start
        rng = r * (np.uint64(cdf[m, k + 1]) - start)
        if rng < _TOP:
            w = _ZERO
            if wi < nw:
                w = np.uint64(words[wi])
            point = (point << _U32) | w
            wi += 1
            rng = rng << _U32
        out[i] = np.int32(k + offsets[m])
    v, ok = _end(words, wi, point, rng)
    return out, 0, count, wi, v, ok


# ---------------------------------------------------------------------------- parametric models
@njit(cache=True, nogil=True)
def encode_param(symbols, indexes, identity, mean, scale, lo, hi, escape, precision, grid, bound, mul):
    """Encode with a parametric model (§6); returns ``(words, nwords, flush, err, errpos)``."""
    n = symbols.shape[0]
    escapes = 0
    if escape:
        for i in range(n):
            if symbols[i] < lo or symbols[i] > hi:
                escapes += 1
    words = np.empty(n + 5 * escapes + 2, np.uint32)  # one word per coded value at most
    pos = 0
    low = _ZERO
    rng = _ONES
    p = np.uint64(precision)
    total = np.int64(1) << precision
    first = lo - 1 if escape else lo
    firstf = float(first)
    size = hi - first + 1 + (1 if escape else 0)
    spread = total - size
    nparams = mean.shape[0]
    for i in range(n):
        m = i
        if not identity:
            m = np.int64(indexes[i])
            if m < 0 or m >= nparams:
                return words, pos, _ZERO, 2, i
        sym = np.int64(symbols[i])
        j = sym - first
        if sym < lo or sym > hi:
            if not escape:
                return words, pos, _ZERO, 1, i
            j = 0 if sym < lo else size - 1
        mu = mean[m]
        inv = 1.0 / max(scale[m], SCALE_FLOOR)
        start = np.uint64(param_edge(j, size, spread, total, firstf, mu, inv, grid, bound, mul))
        end = np.uint64(param_edge(j + 1, size, spread, total, firstf, mu, inv, grid, bound, mul))
        r = rng >> p
        new = low + r * start
        if new < low and not _carry(words, pos):
            return words, pos, _ZERO, 6, i
        low = new
        rng = r * (end - start)
        if rng < _TOP:
            words[pos] = np.uint32(low >> _U32)
            pos += 1
            low = low << _U32
            rng = rng << _U32
        if sym < lo or sym > hi:
            pos, low, rng, ok = _put_escape(words, pos, low, rng, p, lo - 1 - sym if sym < lo else sym - hi - 1)
            if not ok:
                return words, pos, _ZERO, 6, i
    v, ok = _finish(words, pos, low, rng)
    return words, pos, v, 0 if ok else 6, n


@njit(cache=True)
def _put_escape(words, pos, low, rng, p, distance):
    """Escape payload (§6.4): ``n`` as a uniform 6-bit value, then the ``n`` bits of ``distance + 1``
    below its leading one in chunks of at most 8 bits, top chunk first."""
    nbits = escape_bits(distance)
    pos, low, rng, ok = _put(words, pos, low, rng, np.uint64(nbits) << (p - np.uint64(6)), _ONE << (p - np.uint64(6)), p)
    rest = distance + 1 - (np.int64(1) << nbits)
    left = nbits
    while left > 0:
        c = min(left, 8)
        left -= c
        chunk = (rest >> left) & ((1 << c) - 1)
        pos, low, rng, ok2 = _put(words, pos, low, rng, np.uint64(chunk) << (p - np.uint64(c)), _ONE << (p - np.uint64(c)), p)
        ok = ok and ok2
    return pos, low, rng, ok


@njit(cache=True)
def _take_uniform(words, wi, point, rng, p, bits):
    """Decode one uniform ``bits``-bit value; returns ``(value, wi, point, rng)``."""
    r = rng >> p
    slot = point // r  # < 2^p: the caller's point < rng holds
    width = p - np.uint64(bits)
    value = slot >> width
    point -= r * (value << width)
    rng = r * (_ONE << width)
    if rng < _TOP:
        point = (point << _U32) | _word(words, wi)
        wi += 1
        rng = rng << _U32
    return np.int64(value), wi, point, rng


@njit(cache=True, nogil=True)
def decode_param(words, count, indexes, identity, mean, scale, lo, hi, escape, precision, grid, bound, mul, inverse):
    """Parametric counterpart of :func:`decode_table`."""
    out = np.empty(count, np.int32)
    point = (_word(words, 0) << _U32) | _word(words, 1)
    wi = 2
    rng = _ONES
    p = np.uint64(precision)
    total = np.int64(1) << precision
    first = lo - 1 if escape else lo
    size = hi - first + 1 + (1 if escape else 0)
    spread = total - size
    nparams = mean.shape[0]
    qshift = precision - INVERSE_BITS
    for i in range(count):
        m = i
        if not identity:
            m = np.int64(indexes[i])
            if m < 0 or m >= nparams:
                return out, 2, i, wi, _ZERO, False
        r = rng >> p
        slot_u = point // r
        if slot_u >= np.uint64(total):
            return out, 3, i, wi, _ZERO, False
        slot = np.int64(slot_u)
        mu = mean[m]
        sc = max(scale[m], SCALE_FLOOR)
        inv = 1.0 / sc
        # guess the bin from an approximate quantile; the search below is exact from any start
        q = inverse[slot >> qshift]
        jf = mu + sc * q - first + 0.5
        guess = 0
        if jf >= size - 1:
            guess = size - 1
        elif jf > 0:
            guess = np.int64(jf)
        j, start, end = param_find(slot, guess, size, spread, total, float(first), mu, inv, grid, bound, mul)
        point -= r * np.uint64(start)
        rng = r * np.uint64(end - start)
        if rng < _TOP:
            point = (point << _U32) | _word(words, wi)
            wi += 1
            rng = rng << _U32
        sym = first + j
        if escape and (j == 0 or j == size - 1):
            nbits, wi, point, rng = _take_uniform(words, wi, point, rng, p, 6)
            if nbits > 31:
                return out, 4, i, wi, _ZERO, False
            rest = np.int64(0)
            left = nbits
            while left > 0:
                c = min(left, 8)
                left -= c
                chunk, wi, point, rng = _take_uniform(words, wi, point, rng, p, c)
                rest = (rest << c) | chunk
            distance = (np.int64(1) << nbits) + rest - 1
            sym = lo - 1 - distance if j == 0 else hi + 1 + distance
            if sym < _INT32_MIN or sym > _INT32_MAX:
                return out, 5, i, wi, _ZERO, False
        out[i] = np.int32(sym)
    v, ok = _end(words, wi, point, rng)
    return out, 0, count, wi, v, ok
