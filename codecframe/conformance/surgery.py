"""Byte-level edits of container files that keep (or deliberately break) their structure.

Used to derive negative vectors from stored positive ones and by the fuzz harness. Offsets follow
``specs/bitstream.md`` §2: a 12-byte fixed header, the header map, its CRC, then streams of
``length u64 | payload | crc u32``.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable
from typing import Any

from .. import canonical, container

__all__ = ["Layout", "layout", "fix_checksums", "rewrite_header", "replace_header", "patch", "FIXED"]

FIXED = 12


def _crc(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data) & 0xFFFFFFFF)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Offsets of a well-formed container: header ``[12, header_end)``, then per stream
    ``(length_offset, payload_offset, payload_length)``."""

    header_end: int
    streams: tuple[tuple[int, int, int], ...]


def layout(data: bytes) -> Layout:
    """Walk the container structure as far as the bytes allow (no checksum or header checks)."""
    (head_len,) = struct.unpack_from("<I", data, 8) if len(data) >= FIXED else (0,)
    header_end = FIXED + head_len
    pos = header_end + 4
    streams = []
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if pos + 8 + length + 4 > len(data):
            break
        streams.append((pos, pos + 8, length))
        pos += 8 + length + 4
    return Layout(header_end, tuple(streams))


def fix_checksums(data: bytes) -> bytes:
    """Recompute the header CRC and every complete stream's CRC, so that edits reach the parsers behind them."""
    buf = bytearray(data)
    lay = layout(data)
    if lay.header_end + 4 <= len(buf):
        buf[lay.header_end : lay.header_end + 4] = _crc(bytes(buf[: lay.header_end]))
    for _, start, length in lay.streams:
        buf[start + length : start + length + 4] = _crc(bytes(buf[start : start + length]))
    return bytes(buf)


def rewrite_header(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Parse a valid container, let ``edit`` change its header map in place, and write it again
    (canonical form, valid checksums, same streams)."""
    box = container.read(data)
    header = {k: v for k, v in box.header.items() if k != "streams"}
    edit(header)
    return replace_header(data, canonical.pack({**header, "streams": len(box.streams)}))


def replace_header(data: bytes, head: bytes) -> bytes:
    """``data`` with its header map replaced by the bytes ``head`` (length and CRC updated)."""
    prefix = bytes(data[:8]) + struct.pack("<I", len(head)) + head
    return prefix + _crc(prefix) + bytes(data[layout(data).header_end + 4 :])


def patch(data: bytes, offset: int, new: bytes) -> bytes:
    """``data`` with ``new`` written at ``offset`` (negative offsets count from the end)."""
    if offset < 0:
        offset += len(data)
    return data[:offset] + new + data[offset + len(new) :]
