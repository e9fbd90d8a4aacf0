"""Canonical msgpack: one byte string per value, explicit limits on decode.

Canonical form (specs/bitstream.md, section "Canonical msgpack"): maps have str keys sorted by
their UTF-8 bytes; integers use msgpack's shortest encoding; floats are float64; str/bin types
are distinct (``use_bin_type``). numpy arrays are ext type 1: ``dtype code (u8) | ndim (u8) |
shape (ndim x u64 LE) | data (C order, little-endian)``. Decoding rejects anything that does not
re-encode to the same bytes, so every value has exactly one encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import msgpack
import numpy as np

from .errors import FormatError, LimitError, TruncatedError

__all__ = ["pack", "unpack", "ARRAY_EXT", "DTYPE_CODES", "Limits"]

ARRAY_EXT = 1
#: Array dtypes allowed in canonical msgpack and their codes (never renumbered; append only).
DTYPE_CODES: dict[str, int] = {
    "bool": 1, "int8": 2, "uint8": 3, "int16": 4, "uint16": 5, "int32": 6, "uint32": 7,
    "int64": 8, "uint64": 9, "float16": 10, "float32": 11, "float64": 12,
}
_CODE_DTYPES = {v: np.dtype(k).newbyteorder("<") for k, v in DTYPE_CODES.items()}
MAX_NDIM = 8


class Limits:
    """Explicit decode limits (bytes or element counts) for canonical msgpack."""

    max_bytes = 16 << 20
    max_array_len = 1 << 20
    max_map_len = 1 << 16
    max_str_len = 1 << 16
    max_depth = 32


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        name = obj.dtype.name
        if name not in DTYPE_CODES or obj.ndim > MAX_NDIM:
            raise FormatError(f"cannot store array of dtype {obj.dtype} and ndim {obj.ndim} in a header")
        arr = np.ascontiguousarray(obj, dtype=obj.dtype.newbyteorder("<"))
        head = struct.pack(f"<BB{obj.ndim}Q", DTYPE_CODES[name], obj.ndim, *obj.shape)
        return msgpack.ExtType(ARRAY_EXT, head + arr.tobytes())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, int):
        raise FormatError(f"integer {obj} is outside the 64-bit range msgpack can store")
    raise FormatError(f"cannot store {type(obj).__name__} in a header")


#: Python types a header value may have (besides maps, lists, tuples, numpy arrays and scalars):
#: msgpack's own ``Timestamp`` (ext type -1) and ``ExtType`` objects are refused (spec §3.5).
_SCALARS = (type(None), bool, int, float, str, bytes, bytearray)


def _canonicalise(obj: Any, depth: int = 0) -> Any:
    if depth > Limits.max_depth:
        raise FormatError("value nests too deeply")
    if isinstance(obj, _SCALARS) or isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, (msgpack.Timestamp, msgpack.ExtType)):
        code = -1 if isinstance(obj, msgpack.Timestamp) else obj.code
        raise FormatError(f"msgpack ext type {code} is not allowed in a header (only type {ARRAY_EXT}, ndarray)")
    if isinstance(obj, Mapping):
        for k in obj:
            if not isinstance(k, str):
                raise FormatError(f"map key {k!r} is not a string")
        return {k: _canonicalise(obj[k], depth + 1) for k in sorted(obj, key=lambda k: k.encode("utf-8"))}
    if isinstance(obj, (list, tuple)):
        return [_canonicalise(v, depth + 1) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    raise FormatError(f"cannot store {type(obj).__name__} in a header (only maps, arrays, numbers, str, bytes, "
                      "nil, bool and numpy arrays)")


def pack(obj: Any) -> bytes:
    """Canonical msgpack bytes of ``obj`` (JSON types, bytes, numpy arrays)."""
    return msgpack.packb(_canonicalise(obj), use_bin_type=True, default=_default, strict_types=False)


def _ext_hook(code: int, data: bytes) -> Any:
    if code != ARRAY_EXT:
        raise FormatError(f"unknown msgpack ext type {code}")
    if len(data) < 2:
        raise TruncatedError("array ext shorter than its fixed header")
    dcode, ndim = data[0], data[1]
    if dcode not in _CODE_DTYPES:
        raise FormatError(f"unknown array dtype code {dcode}")
    if ndim > MAX_NDIM:
        raise LimitError(f"array ndim {ndim} exceeds {MAX_NDIM}")
    head = 2 + 8 * ndim
    if len(data) < head:
        raise TruncatedError("array ext shorter than its shape")
    shape = struct.unpack_from(f"<{ndim}Q", data, 2)
    dtype = _CODE_DTYPES[dcode]
    count = 1
    for n in shape:
        count *= n
        if count * dtype.itemsize > len(data):
            raise LimitError(f"array ext declares shape {shape}, larger than its {len(data)} bytes")
    if count * dtype.itemsize != len(data) - head:
        raise FormatError(f"array ext of shape {shape} and dtype {dtype.name} has {len(data) - head} data bytes")
    return np.frombuffer(data, dtype=dtype, count=count, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


def unpack(data: bytes, what: str = "header") -> Any:
    """Decode canonical msgpack within :class:`Limits`; malformed or non-canonical data raises FormatError."""
    if len(data) > Limits.max_bytes:
        raise LimitError(f"{what} of {len(data)} bytes exceeds the limit of {Limits.max_bytes}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=_ext_hook,
            timestamp=0,
            max_bin_len=Limits.max_bytes,
            max_str_len=Limits.max_str_len,
            max_array_len=Limits.max_array_len,
            max_map_len=Limits.max_map_len,
            max_ext_len=Limits.max_bytes,
        )
    except FormatError:
        raise
    except msgpack.ExtraData:
        raise FormatError(f"{what}: bytes follow the msgpack value") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError, MemoryError, OverflowError) as exc:
        raise FormatError(f"{what} is not valid msgpack: {exc}") from None
    try:
        canonical = pack(obj)
    except (FormatError, OverflowError, ValueError) as exc:
        raise FormatError(f"{what} holds a value outside canonical msgpack: {exc}") from None
    if canonical != bytes(data):
        raise FormatError(f"{what} is not in canonical msgpack form")
    return obj
