"""A second registered coder: rANS with a 64-bit state and 32-bit words (``specs/range-coder.md`` §7).

Same models and interface as :class:`~codecframe.coders.range.RangeCoder`; a pipeline switches
between them by the entropy coder's id alone.
"""

from __future__ import annotations

import numpy as np

from ..probability import ParametricModel, ProbabilityModel
from .base import KernelCoder
from .range import _words
from .rans_kernels import RANS_LOW, decode_param, decode_table, encode_param, encode_table

__all__ = ["RansCoder"]


def _stream(words: np.ndarray, nwords: int, state: int) -> bytes:
    """Final state (8 bytes), then the words in the order the decoder reads them, all big-endian."""
    return int(state).to_bytes(8, "big") + words[:nwords][::-1].astype(">u4").tobytes()


def _ended_cleanly(data: bytes, words_read: int, state: int) -> bool:
    return int(state) == RANS_LOW and len(data) % 4 == 0 and words_read == len(data) // 4


class RansCoder(KernelCoder):
    """rANS coder (registry id ``"rans"``): encodes backwards, decodes forwards."""

    id = "rans"
    version = 1
    capacity = (8, 32)
    slack = 0.012  # rANS may spend up to log2(1 / (1 - 2^-7)) bits less than the ideal per symbol

    def _encode_table(self, sym, idx, single, model: ProbabilityModel):
        words, n, state, err, pos = encode_table(sym, idx, single, model.cdf, model.sizes, model.offsets, model.precision)
        return (b"" if err else _stream(words, n, state)), err, pos

    def _encode_param(self, sym, idx, identity, model: ParametricModel):
        words, n, state, err, pos = encode_param(sym, idx, identity, *model.kernel_args())
        return (b"" if err else _stream(words, n, state)), err, pos

    def _decode_table(self, data, count, idx, single, model: ProbabilityModel, lut, bits):
        out, err, pos, wi, state = decode_table(
            _words(data), count, idx, single, model.cdf, model.sizes, model.offsets, lut, bits, model.precision
        )
        return out, err, pos, err == 0 and _ended_cleanly(data, wi, state)

    def _decode_param(self, data, count, idx, identity, model: ParametricModel):
        out, err, pos, wi, state = decode_param(_words(data), count, idx, identity, *model.kernel_args(), model.inverse())
        return out, err, pos, err == 0 and _ended_cleanly(data, wi, state)
