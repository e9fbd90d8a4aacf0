"""Bounds and helpers shared by the coding tests."""

from __future__ import annotations

import math

from codecframe.coders import RangeCoder, RansCoder

CODERS = (RangeCoder(), RansCoder())


def overhead_bound_bits(coder_id: str, precision: int, count: int) -> float:
    """Bits a stream may exceed the information content by (specs/range-coder.md §3.6 and §7.4)."""
    if coder_id == "range":
        per_symbol = -math.log2(1.0 - 2.0 ** (precision - 32))
    else:
        per_symbol = math.log2(1.0 + 2.0 ** (precision - 31))
    return count * per_symbol + 64.0
