"""``byte-rans``: rANS with byte output, in plain Python (``specs/byte-rans.md``).

The state ``x`` lives in ``[L, 256·L)`` with ``L = 2^39``; coding a symbol of frequency ``f``
first shifts out bytes while ``x ≥ 2^(47−p)·f``, then sets ``x = ⌊x/f⌋·2^p + x mod f + start``.
The decoder undoes this in forward order and checks that it ends in ``x = L`` with every byte read,
so a stream has exactly one decoding and truncated, extended or foreign bytes are rejected.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any, ClassVar

import numpy as np

from codecframe.abc import EntropyCoder
from codecframe.coders import CoderConfig
from codecframe.errors import DecodeError, EncodeError, IncompatibleError, InputError, LimitError
from codecframe.probability import ProbabilityModel

#: Lower end of the state interval; the state always fits in 47 bits (6 bytes).
L = 1 << 39
STATE_BYTES = 6
#: Most symbols one call codes: a pure-Python loop, so keep groups small.
MAX_COUNT = 1 << 24


@dataclasses.dataclass(frozen=True)
class ByteRansConfig(CoderConfig):
    """``precision`` (12..24, default 16) from :class:`~codecframe.coders.CoderConfig`; no other option."""


class ByteRansCoder(EntropyCoder):
    """Table models only (one row, or several chosen by per-symbol ``indexes``)."""

    id = "byte-rans"
    version = 1
    Config: ClassVar[type] = ByteRansConfig
    model_kinds: ClassVar[frozenset[str]] = frozenset({"table"})

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"precision": 12}, {"precision": 24}]

    # ------------------------------------------------------------------ arguments
    def _model(self, model: Any) -> ProbabilityModel:
        if not isinstance(model, ProbabilityModel):
            raise IncompatibleError(f"{self.describe()} codes table models only, not {getattr(model, 'kind', model)!r}")
        return model

    @staticmethod
    def _symbols(symbols: Any) -> np.ndarray:
        sym = np.asarray(symbols)
        if sym.dtype == np.bool_ or not np.issubdtype(sym.dtype, np.integer) or sym.ndim != 1:
            raise InputError(f"symbols must be a 1-D integer array, got {sym.dtype} of shape {sym.shape}")
        if sym.size > MAX_COUNT:
            raise LimitError(f"{sym.size} symbols exceed this coder's limit of {MAX_COUNT}")
        return sym.astype(np.int64)

    # ------------------------------------------------------------------ coding
    def encode(self, symbols: np.ndarray, model: Any, indexes: np.ndarray | None = None) -> bytes:
        model = self._model(model)
        sym = self._symbols(symbols)
        rows = model.check_indexes(indexes, sym.size).astype(np.int64)
        pos = sym - model.offsets[rows]
        bad = (pos < 0) | (pos >= model.sizes[rows])
        if bad.any():
            i = int(np.argmax(bad))
            lo = int(model.offsets[rows[i]])
            raise EncodeError(f"symbol {int(sym[i])} at position {i} is outside model {int(rows[i])}'s support "
                              f"{lo}..{lo + int(model.sizes[rows[i]]) - 1}")
        starts = model.cdf[rows, pos].astype(np.int64).tolist()
        freqs = (model.cdf[rows, pos + 1].astype(np.int64) - model.cdf[rows, pos]).tolist()
        p = model.precision
        shift = 47 - p
        x, out = L, bytearray()
        for start, freq in zip(reversed(starts), reversed(freqs)):
            limit = freq << shift
            while x >= limit:
                out.append(x & 0xFF)
                x >>= 8
            x = ((x // freq) << p) + x % freq + start
        out.reverse()
        return x.to_bytes(STATE_BYTES, "big") + bytes(out)

    def decode(self, data: bytes, model: Any, count: int, indexes: np.ndarray | None = None) -> np.ndarray:
        model = self._model(model)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"data must be bytes, got {type(data).__name__}")
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)) or count < 0:
            raise InputError(f"count must be a non-negative integer, got {count!r}")
        if count > MAX_COUNT:
            raise LimitError(f"count {count} exceeds this coder's limit of {MAX_COUNT}")
        data = bytes(data)
        rows = model.check_indexes(indexes, int(count)).tolist()
        if len(data) < STATE_BYTES:
            raise DecodeError(f"a byte-rans stream has at least {STATE_BYTES} bytes, got {len(data)}")
        x, at = int.from_bytes(data[:STATE_BYTES], "big"), STATE_BYTES
        if not L <= x < L << 8:
            raise DecodeError("the stream's initial state is out of range")
        p, mask = model.precision, (1 << model.precision) - 1
        cdf, sizes, offsets = model.cdf.tolist(), model.sizes.tolist(), model.offsets.tolist()
        out = np.empty(int(count), np.int32)
        for i, m in enumerate(rows):
            slot = x & mask
            k = bisect.bisect_right(cdf[m], slot, 0, sizes[m] + 1) - 1
            start = cdf[m][k]
            x = (cdf[m][k + 1] - start) * (x >> p) + slot - start
            while x < L:
                if at >= len(data):
                    raise DecodeError(f"the stream ends inside symbol {i}")
                x = (x << 8) | data[at]
                at += 1
            out[i] = offsets[m] + k
        if x != L or at != len(data):
            raise DecodeError("the stream does not end where its encoder ends it (extended, corrupt, or another model)")
        return out
