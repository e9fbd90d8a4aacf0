"""Container v1: the self-describing byte layout every codecframe file uses (specs/bitstream.md).

    magic  "\\x89CFR" (4 bytes)
    major u8 | minor u8 | flags u16 LE (must be 0)
    header_len u32 LE | header (canonical msgpack map) | header_crc u32 LE (CRC-32 of all bytes before it)
    stream_count times:  length u64 LE | data | crc u32 LE (CRC-32 of data)
    end of file (trailing bytes are an error)

The header must contain ``"streams": stream_count``. Sizes are checked against the bytes present
before anything is sliced or allocated.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import Any

from . import canonical
from .errors import ChecksumError, FormatError, LimitError, TrailingDataError, TruncatedError, VersionError

__all__ = ["MAGIC", "MAJOR", "MINOR", "Container", "write", "read", "MAX_STREAMS"]

MAGIC = b"\x89CFR"
MAJOR = 1
MINOR = 0
MAX_STREAMS = 1 << 16
_FIXED = struct.Struct("<4sBBHI")


@dataclasses.dataclass(frozen=True)
class Container:
    """A parsed container: the header map and the raw stream payloads."""

    header: dict[str, Any]
    streams: tuple[bytes, ...]
    version: tuple[int, int] = (MAJOR, MINOR)

    @property
    def stream_sizes(self) -> list[int]:
        return [len(s) for s in self.streams]


def _crc(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def write(header: dict[str, Any], streams: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Serialize a container; ``header["streams"]`` is set to the stream count."""
    if len(streams) > MAX_STREAMS:
        raise LimitError(f"{len(streams)} streams exceed the limit of {MAX_STREAMS}")
    head = canonical.pack({**header, "streams": len(streams)})
    if len(head) > canonical.Limits.max_bytes:
        raise LimitError(f"header of {len(head)} bytes exceeds the limit of {canonical.Limits.max_bytes}")
    try:  # a writer respects the reader's limits (array, map and string sizes, depth): read it back
        canonical.unpack(head, "header")
    except FormatError as exc:
        raise LimitError(f"the header would not be readable: {exc}") from None
    prefix = _FIXED.pack(MAGIC, MAJOR, MINOR, 0, len(head)) + head
    parts = [prefix, struct.pack("<I", _crc(prefix))]
    for s in streams:
        s = bytes(s)
        parts += [struct.pack("<Q", len(s)), s, struct.pack("<I", _crc(s))]
    return b"".join(parts)


def read(data: bytes | bytearray | memoryview) -> Container:
    """Parse and verify a container; every defect raises a :class:`FormatError` subclass."""
    view = memoryview(data).cast("B")
    if len(view) < 4 or bytes(view[:4]) != MAGIC:
        raise FormatError("not a codecframe container (bad magic bytes)")
    if len(view) < _FIXED.size:
        raise TruncatedError(f"container of {len(view)} bytes ends inside the fixed header")
    _, major, minor, flags, head_len = _FIXED.unpack_from(view, 0)
    if major != MAJOR:
        raise VersionError(f"container format {major}.{minor} is not supported (this reader supports {MAJOR}.x)")
    if flags != 0:
        raise FormatError(f"reserved flags {flags:#06x} must be zero")
    if head_len > canonical.Limits.max_bytes:
        raise LimitError(f"declared header length {head_len} exceeds the limit of {canonical.Limits.max_bytes}")
    pos = _FIXED.size + head_len
    if len(view) < pos + 4:
        raise TruncatedError(f"container ends inside the header (needs {pos + 4} bytes, has {len(view)})")
    (head_crc,) = struct.unpack_from("<I", view, pos)
    if _crc(view[:pos]) != head_crc:
        raise ChecksumError("header checksum mismatch")
    header = canonical.unpack(bytes(view[_FIXED.size : pos]), "header")
    if not isinstance(header, dict):
        raise FormatError("header is not a map")
    count = header.get("streams")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_STREAMS:
        raise FormatError(f"header field 'streams' must be an integer in [0, {MAX_STREAMS}], got {count!r}")
    pos += 4
    streams = []
    for i in range(count):
        if len(view) < pos + 8:
            raise TruncatedError(f"container ends before the length of stream {i}")
        (length,) = struct.unpack_from("<Q", view, pos)
        pos += 8
        if length > len(view) - pos - 4:
            raise LimitError(f"stream {i} declares {length} bytes but only {max(len(view) - pos - 4, 0)} remain")
        payload = view[pos : pos + length]
        (crc,) = struct.unpack_from("<I", view, pos + length)
        if _crc(payload) != crc:
            raise ChecksumError(f"stream {i} checksum mismatch")
        streams.append(bytes(payload))
        pos += length + 4
    if pos != len(view):
        raise TrailingDataError(f"{len(view) - pos} bytes of trailing data after the last stream")
    return Container(header, tuple(streams), (major, minor))
