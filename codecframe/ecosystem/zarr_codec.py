"""The native zarr v3 ``ArrayBytesCodec`` named ``codecframe`` (entry point ``zarr.codecs``: ``codecframe``).

Use it as the array's serializer; no ``compressors`` are needed after it::

    zarr.create_array(store, shape=..., chunks=..., dtype="float32",
                      serializer=CodecframeCodec(quantizer={"id": "uniform", "step": 0.01}),
                      compressors=None)

The array metadata holds ``{"name": "codecframe", "configuration": <codec config>}`` (see
:mod:`codecframe.ecosystem.array_codec`); each stored chunk is one self-contained container.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

from zarr.abc.codec import ArrayBytesCodec
from zarr.core.common import parse_named_configuration

from .array_codec import CODEC_ID, ArrayCodec, chunk_layout

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

__all__ = ["CodecframeCodec"]


@dataclasses.dataclass(frozen=True)
class CodecframeCodec(ArrayBytesCodec):
    """zarr v3 adapter around :class:`~codecframe.ecosystem.array_codec.ArrayCodec`.

    Keyword arguments are the codec config: ``quantizer`` (required), optionally ``posterior``,
    ``allocator``, ``entropy_coder``, ``std``, ``std_rel``, ``format``, ``provenance``.
    """

    is_fixed_size = False
    codec: ArrayCodec

    def __init__(self, **config: Any) -> None:
        object.__setattr__(self, "codec", ArrayCodec(config))

    @property
    def configuration(self) -> dict[str, Any]:
        return self.codec.config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodecframeCodec:
        _, configuration = parse_named_configuration(data, CODEC_ID, require_configuration=True)
        return cls(**configuration)

    def to_dict(self) -> dict[str, Any]:
        return {"name": CODEC_ID, "configuration": self.codec.config}

    def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: Any) -> None:
        """Refuse dtypes the codec cannot store when the array is created (raises InputError)."""
        chunk_layout(dtype.to_native_dtype())

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("codecframe output size depends on the data")

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return chunk_spec.prototype.buffer.from_bytes(self.codec.encode(chunk_array.as_numpy_array()))

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        """The chunk's values; a chunk of another shape or dtype than the array's is a FormatError."""
        values = self.codec.decode(chunk_bytes.as_numpy_array(), shape=chunk_spec.shape,
                                   dtype=chunk_spec.dtype.to_native_dtype())
        return chunk_spec.prototype.nd_buffer.from_numpy_array(values)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)
