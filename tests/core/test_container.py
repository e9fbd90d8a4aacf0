import struct

import pytest
from hypothesis import given, settings, strategies as st

from codecframe import container
from codecframe.errors import (ChecksumError, CodecframeError, FormatError, LimitError, TrailingDataError,
                               TruncatedError, VersionError)

HEADER = {"pipeline": {"x": 1}, "meta": {"note": "hi"}}


def sample() -> bytes:
    return container.write(HEADER, [b"abc", b"", bytes(range(200))])


def test_round_trip():
    box = container.read(sample())
    assert box.header == {**HEADER, "streams": 3}
    assert box.streams == (b"abc", b"", bytes(range(200)))
    assert box.version == (1, 0)


def test_layout_is_as_specified():
    data = sample()
    assert data[:4] == b"\x89CFR" and data[4] == 1 and data[5] == 0 and data[6:8] == b"\0\0"
    (hlen,) = struct.unpack_from("<I", data, 8)
    first = 12 + hlen + 4
    assert struct.unpack_from("<Q", data, first)[0] == 3 and data[first + 8 : first + 11] == b"abc"


def test_every_truncation_is_rejected():
    data = sample()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            container.read(data[:n])


def test_trailing_garbage():
    with pytest.raises(TrailingDataError):
        container.read(sample() + b"\0")


def test_bad_checksums():
    data = bytearray(sample())
    data[14] ^= 1  # inside the header
    with pytest.raises((ChecksumError, FormatError)):
        container.read(bytes(data))
    data = bytearray(sample())
    data[-5] ^= 0x40  # inside the last stream
    with pytest.raises(ChecksumError, match="stream 2"):
        container.read(bytes(data))


def test_unknown_major_version():
    data = bytearray(sample())
    data[4] = 2
    with pytest.raises(VersionError, match="2.0"):
        container.read(bytes(data))


def test_declared_sizes_larger_than_data():
    data = bytearray(sample())
    (hlen,) = struct.unpack_from("<I", data, 8)
    struct.pack_into("<Q", data, 12 + hlen + 4, 1 << 60)
    with pytest.raises(LimitError, match="declares"):
        container.read(bytes(data))
    data = bytearray(sample())
    struct.pack_into("<I", data, 8, 0xFFFFFFFF)
    with pytest.raises(LimitError):
        container.read(bytes(data))


def test_bad_magic():
    with pytest.raises(FormatError, match="magic"):
        container.read(b"PK\x03\x04" + bytes(20))


def _mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for kind, pos, val in edits:
        if not buf:
            break
        pos %= len(buf)
        if kind == 0:
            buf[pos] ^= 1 << (val % 8)
        elif kind == 1:
            buf[pos] = val
        elif kind == 2:
            del buf[pos:]
        else:
            buf[pos:pos] = bytes([val])
    return bytes(buf)


edit = st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 255))


@settings(max_examples=2000)
@given(st.lists(edit, min_size=1, max_size=4))
def test_mutations_raise_only_codecframe_errors(edits):
    try:
        container.read(_mutate(sample(), edits))
    except CodecframeError:
        pass


@given(st.binary(max_size=300))
def test_random_bytes(data):
    try:
        container.read(data)
    except CodecframeError:
        pass
