"""Jitted loops of the rANS coder (``specs/range-coder.md`` §7): 64-bit state, 32-bit words.

The encoder walks the symbols backwards from the state ``x = 2^31``; before coding ``(start, freq)``
it writes the low word of ``x`` and shifts it out if ``x >= freq << (63 - p)``, then sets
``x = (x // freq) << p | (x % freq) + start``. The decoder reads the final state first and runs
forwards; a valid stream ends with ``x = 2^31`` exactly when its last word has been read.

Error codes are those of :mod:`.range_kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..probability.kernels import INVERSE_BITS, SCALE_FLOOR, escape_bits, param_edge, param_find

__all__ = ["encode_table", "decode_table", "encode_param", "decode_param", "RANS_LOW"]

#: Lower bound of the normalized state, and the encoder's initial state.
RANS_LOW = 1 << 31
_L = np.uint64(RANS_LOW)
_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1


@njit(cache=True)
def _push(words, pos, x, start, freq, p):
    """Encode ``(start, freq)`` outside the hot loops (escape payloads); returns ``(pos, x)``."""
    if x >= freq << (np.uint64(63) - p):
        words[pos] = np.uint32(x & _MASK32)
        pos += 1
        x = x >> _U32
    return pos, ((x // freq) << p) + (x % freq) + start


@njit(cache=True)
def _push_escape(words, pos, x, p, distance):
    """The escape payload of §6.4, pushed in reverse so the decoder reads it forwards."""
    nbits = escape_bits(distance)
    rest = distance + 1 - (np.int64(1) << nbits)
    for t in range((nbits + 7) // 8 - 1, -1, -1):  # forward chunk t holds bits [below, below + width)
        width = min(8, nbits - 8 * t)
        below = nbits - 8 * t - width
        chunk = (rest >> below) & ((1 << width) - 1)
        pos, x = _push(words, pos, x, np.uint64(chunk) << (p - np.uint64(width)), _ONE << (p - np.uint64(width)), p)
    pos, x = _push(words, pos, x, np.uint64(nbits) << (p - np.uint64(6)), _ONE << (p - np.uint64(6)), p)
    return pos, x


@njit(cache=True, nogil=True)
def encode_table(symbols, indexes, single, cdf, sizes, offsets, precision):
    """Returns ``(words, nwords, state, err, errpos)``; ``words`` are in the order written (reversed in the stream)."""
    n = symbols.shape[0]
    words = np.empty(n + 2, np.uint32)
    pos = 0
    x = _L
    p = np.uint64(precision)
    shift = np.uint64(63) - p
    nmodels = cdf.shape[0]
    for i in range(n - 1, -1, -1):
        m = 0
        if not single:
            m = np.int64(indexes[i])
            if m < 0 or m >= nmodels:
                return words, pos, x, 2, i
        k = np.int64(symbols[i]) - np.int64(offsets[m])
        if k < 0 or k >= sizes[m]:
            return words, pos, x, 1, i
        start = np.uint64(cdf[m, k])
        freq = np.uint64(cdf[m, k + 1]) - start
        if x >= freq << shift:
            words[pos] = np.uint32(x & _MASK32)
            pos += 1
            x = x >> _U32
        q = x // freq
        x = (q << p) + (x - q * freq) + start
    return words, pos, x, 0, n


@njit(cache=True, nogil=True)
def decode_table(words, count, indexes, single, cdf, sizes, offsets, lut, bits, precision):
    """``words``: the stream as uint32 after the 2-word state. Returns ``(symbols, err, errpos, words_read, x)``."""
    out = np.empty(count, np.int32)
    nw = words.shape[0]
    x = (np.uint64(words[0]) << _U32) | np.uint64(words[1]) if nw >= 2 else _ZERO
    wi = 2
    p = np.uint64(precision)
    mask = (_ONE << p) - _ONE
    shift = np.uint64(precision - bits)
    nmodels = cdf.shape[0]
    if x < _L or x >= _ONE << np.uint64(63):
        return out, 3, 0, wi, x
    for i in range(count):
        m = 0
        if not single:
            m = np.int64(indexes[i])
            if m < 0 or m >= nmodels:
                return out, 2, i, wi, x
        slot = x & mask
        b = np.int64(slot >> shift)
        k = np.int64(lut[m, b])
        hi = np.int64(lut[m, b + 1])
        while k < hi:
            mid = (k + hi + 1) >> 1
            if np.uint64(cdf[m, mid]) <= slot:
                k = mid
            else:
                hi = mid - 1
        start = np.uint64(cdf[m, k])
        x = (np.uint64(cdf[m, k + 1]) - start) * (x >> p) + slot - start
        if x < _L:
            w = _ZERO
            if wi < nw:
                w = np.uint64(words[wi])
            x = (x << _U32) | w
            wi += 1
        out[i] = np.int32(k + offsets[m])
    return out, 0, count, wi, x


@njit(cache=True, nogil=True)
def encode_param(symbols, indexes, identity, mean, scale, lo, hi, escape, precision, grid, bound, mul):
    """Parametric counterpart of :func:`encode_table`."""
    n = symbols.shape[0]
    escapes = 0
    if escape:
        for i in range(n):
            if symbols[i] < lo or symbols[i] > hi:
                escapes += 1
    words = np.empty(n + 5 * escapes + 2, np.uint32)
    pos = 0
    x = _L
    p = np.uint64(precision)
    shift = np.uint64(63) - p
    total = np.int64(1) << precision
    first = lo - 1 if escape else lo
    firstf = float(first)
    size = hi - first + 1 + (1 if escape else 0)
    spread = total - size
    nparams = mean.shape[0]
    for i in range(n - 1, -1, -1):
        m = i
        if not identity:
            m = np.int64(indexes[i])
            if m < 0 or m >= nparams:
                return words, pos, x, 2, i
        sym = np.int64(symbols[i])
        j = sym - first
        if sym < lo or sym > hi:
            if not escape:
                return words, pos, x, 1, i
            j = 0 if sym < lo else size - 1
            pos, x = _push_escape(words, pos, x, p, lo - 1 - sym if sym < lo else sym - hi - 1)
        mu = mean[m]
        inv = 1.0 / max(scale[m], SCALE_FLOOR)
        start = np.uint64(param_edge(j, size, spread, total, firstf, mu, inv, grid, bound, mul))
        freq = np.uint64(param_edge(j + 1, size, spread, total, firstf, mu, inv, grid, bound, mul)) - start
        if x >= freq << shift:
            words[pos] = np.uint32(x & _MASK32)
            pos += 1
            x = x >> _U32
        q = x // freq
        x = (q << p) + (x - q * freq) + start
    return words, pos, x, 0, n


@njit(cache=True)
def _pop_uniform(words, wi, x, p, bits):
    """Decode one uniform ``bits``-bit value; returns ``(value, wi, x)``."""
    width = p - np.uint64(bits)
    slot = x & ((_ONE << p) - _ONE)
    value = slot >> width
    x = (_ONE << width) * (x >> p) + slot - (value << width)
    if x < _L:
        w = _ZERO
        if wi < words.shape[0]:
            w = np.uint64(words[wi])
        x = (x << _U32) | w
        wi += 1
    return np.int64(value), wi, x


@njit(cache=True, nogil=True)
def decode_param(words, count, indexes, identity, mean, scale, lo, hi, escape, precision, grid, bound, mul, inverse):
    """Parametric counterpart of :func:`decode_table`."""
    out = np.empty(count, np.int32)
    nw = words.shape[0]
    x = (np.uint64(words[0]) << _U32) | np.uint64(words[1]) if nw >= 2 else _ZERO
    wi = 2
    p = np.uint64(precision)
    mask = (_ONE << p) - _ONE
    total = np.int64(1) << precision
    first = lo - 1 if escape else lo
    firstf = float(first)
    size = hi - first + 1 + (1 if escape else 0)
    spread = total - size
    nparams = mean.shape[0]
    qshift = precision - INVERSE_BITS
    if x < _L or x >= _ONE << np.uint64(63):
        return out, 3, 0, wi, x
    for i in range(count):
        m = i
        if not identity:
            m = np.int64(indexes[i])
            if m < 0 or m >= nparams:
                return out, 2, i, wi, x
        slot = np.int64(x & mask)
        mu = mean[m]
        sc = max(scale[m], SCALE_FLOOR)
        inv = 1.0 / sc
        jf = mu + sc * inverse[slot >> qshift] - first + 0.5
        guess = 0
        if jf >= size - 1:
            guess = size - 1
        elif jf > 0:
            guess = np.int64(jf)
        j, start, end = param_find(slot, guess, size, spread, total, firstf, mu, inv, grid, bound, mul)
        x = np.uint64(end - start) * (x >> p) + np.uint64(slot - start)
        if x < _L:
            w = _ZERO
            if wi < nw:
                w = np.uint64(words[wi])
            x = (x << _U32) | w
            wi += 1
        sym = first + j
        if escape and (j == 0 or j == size - 1):
            nbits, wi, x = _pop_uniform(words, wi, x, p, 6)
            if nbits > 31:
                return out, 4, i, wi, x
            rest = np.int64(0)
            left = nbits
            while left > 0:
                c = min(left, 8)
                left -= c
                chunk, wi, x = _pop_uniform(words, wi, x, p, c)
                rest = (rest << c) | chunk
            distance = (np.int64(1) << nbits) + rest - 1
            sym = lo - 1 - distance if j == 0 else hi + 1 + distance
            if sym < _INT32_MIN or sym > _INT32_MAX:
                return out, 5, i, wi, x
        out[i] = np.int32(sym)
    return out, 0, count, wi, x
