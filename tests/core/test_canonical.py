import msgpack
import numpy as np
import pytest
from hypothesis import given, strategies as st

from codecframe import canonical
from codecframe.errors import FormatError, LimitError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_and_uniqueness(value):
    data = canonical.pack(value)
    assert canonical.unpack(data) == value
    assert canonical.pack(canonical.unpack(data)) == data


@given(st.dictionaries(st.text(max_size=4), st.integers(-(2**63), 2**64 - 1), min_size=2, max_size=6))
def test_key_order_does_not_matter(d):
    rev = dict(reversed(list(d.items())))
    assert canonical.pack(d) == canonical.pack(rev)


def test_arrays_round_trip():
    for dt in canonical.DTYPE_CODES:
        a = (np.arange(12) % 2).astype(dt).reshape(3, 4)
        b = canonical.unpack(canonical.pack({"a": a}))["a"]
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(a, b)


def test_non_canonical_rejected():
    unsorted = msgpack.packb({"b": 1, "a": 2})
    with pytest.raises(FormatError, match="canonical"):
        canonical.unpack(unsorted)
    wide_int = b"\xcd\x00\x01"  # 1 as uint16: not the shortest form
    with pytest.raises(FormatError, match="canonical"):
        canonical.unpack(wide_int)


def test_array_ext_declaring_more_than_present():
    bad = msgpack.packb(msgpack.ExtType(1, bytes([11, 1]) + (10**12).to_bytes(8, "little")))
    with pytest.raises(LimitError):
        canonical.unpack(bad)


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x92\x01", b"\x81\x01\x02", b"\xd9\x05ab", b"\xc7\x02\x07ab"])
def test_malformed_inputs_raise_format_error(data):
    with pytest.raises(FormatError):
        canonical.unpack(data)


@given(st.binary(max_size=64))
def test_random_bytes_never_escape(data):
    try:
        canonical.unpack(data)
    except FormatError:
        pass


def test_out_of_range_integer_is_a_format_error():
    with pytest.raises(FormatError, match="64-bit"):
        canonical.pack({"a": 2**64})
