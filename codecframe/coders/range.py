"""The default entropy coder: a numba range coder with a 64-bit state and 32-bit words.

Byte format: ``specs/range-coder.md`` §3 (big-endian words, then the shortest final code point).
"""

from __future__ import annotations

import numpy as np

from ..probability import ParametricModel, ProbabilityModel
from .base import KernelCoder
from .range_kernels import decode_param, decode_table, encode_param, encode_table

__all__ = ["RangeCoder"]

def _stream(words: np.ndarray, nwords: int, flush: int) -> bytes:
    """Body words big-endian, then the final code point's 8 bytes without trailing zeros."""
    return words[:nwords].astype(">u4").tobytes() + int(flush).to_bytes(8, "big").rstrip(b"\0")


def _words(data: bytes) -> np.ndarray:
    """The stream as native uint32 words (big-endian in the bytes), zero-padded to whole words."""
    padded = data + b"\0" * (-len(data) % 4)
    return np.frombuffer(padded, ">u4").astype(np.uint32)


def _ended_cleanly(data: bytes, words_read: int, final: int, window_ok: bool) -> bool:
    """§3.6: the last window holds the final point its encoder would have chosen, and nothing follows it."""
    tail = int(final).to_bytes(8, "big").rstrip(b"\0")
    return bool(window_ok) and len(data) == 4 * (words_read - 2) + len(tail)


class RangeCoder(KernelCoder):
    """Range coder (registry id ``"range"``): tables and parametric models, one or many rows."""

    id = "range"
    version = 1
    capacity = (8, 32)

    def _encode_table(self, sym, idx, single, model: ProbabilityModel):
        words, n, flush, err, pos = encode_table(sym, idx, single, model.cdf, model.sizes, model.offsets, model.precision)
        return (b"" if err else _stream(words, n, flush)), err, pos

    def _encode_param(self, sym, idx, identity, model: ParametricModel):
        words, n, flush, err, pos = encode_param(sym, idx, identity, *model.kernel_args())
        return (b"" if err else _stream(words, n, flush)), err, pos

    def _decode_table(self, data, count, idx, single, model: ProbabilityModel, lut, bits):
        out, err, pos, wi, final, ok = decode_table(
            _words(data), count, idx, single, model.cdf, model.sizes, model.offsets, lut, bits, model.precision
        )
        return out, err, pos, err == 0 and _ended_cleanly(data, wi, final, ok)

    def _decode_param(self, data, count, idx, identity, model: ParametricModel):
        out, err, pos, wi, final, ok = decode_param(
            _words(data), count, idx, identity, *model.kernel_args(), model.inverse()
        )
        return out, err, pos, err == 0 and _ended_cleanly(data, wi, final, ok)
