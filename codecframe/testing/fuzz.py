"""Byte-level mutation for fuzzing decoders (used by the test suite and the fuzz campaign)."""

from __future__ import annotations

import numpy as np

__all__ = ["mutate_bytes"]


def mutate_bytes(rng: np.random.Generator, data: bytes) -> bytes:
    """``data`` with 1–5 random byte edits: bit flips, overwrites, truncation, insertions, runs of 0x00/0xFF, deletions."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        op, pos = int(rng.integers(0, 6)), int(rng.integers(0, max(len(buf), 1)))
        if op == 0 and buf:
            buf[pos % len(buf)] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and buf:
            buf[pos % len(buf)] = int(rng.integers(0, 256))
        elif op == 2:
            del buf[pos:]
        elif op == 3:
            buf[pos:pos] = rng.bytes(int(rng.integers(1, 9)))
        elif op == 4 and buf:
            end = min(len(buf), pos + 8)
            buf[pos:end] = bytes([0xFF if rng.random() < 0.5 else 0]) * (end - pos)
        elif buf:
            del buf[pos : pos + int(rng.integers(1, 9))]
    return bytes(buf)
