"""The ``codecframe`` numcodecs codec (entry point ``numcodecs.codecs``: ``codecframe``).

    >>> import numpy as np, numcodecs
    >>> codec = numcodecs.get_codec({"id": "codecframe", "quantizer": {"id": "uniform", "step": 0.5}})
    >>> codec.decode(codec.encode(np.array([0.2, 1.4, -0.9], np.float32)))
    array([ 0. ,  1.5, -1. ], dtype=float32)

Use it as the compressor of a zarr v2 array. It is lossy: ``decode`` returns the reconstruction,
in the chunk's original dtype and shape.
"""

from __future__ import annotations

from typing import Any

import numcodecs.abc
from numcodecs.compat import ndarray_copy

from .array_codec import CODEC_ID, ArrayCodec

__all__ = ["Codecframe"]


class Codecframe(numcodecs.abc.Codec):
    """numcodecs adapter around :class:`~codecframe.ecosystem.array_codec.ArrayCodec`.

    Keyword arguments are the codec config: ``quantizer`` (required), optionally ``posterior``,
    ``allocator``, ``entropy_coder``, ``std``, ``std_rel``, ``format``, ``provenance``.
    """

    codec_id = CODEC_ID

    def __init__(self, **config: Any) -> None:
        self._codec = ArrayCodec(config)

    @property
    def array_codec(self) -> ArrayCodec:
        """The shared codec logic (chunk position checks: :meth:`ArrayCodec.decode`)."""
        return self._codec

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, **self._codec.config}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Codecframe:
        return cls(**{k: v for k, v in config.items() if k != "id"})

    def __getstate__(self) -> dict[str, Any]:
        return self._codec.config

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Codecframe({', '.join(f'{k}={v!r}' for k, v in self._codec.config.items())})"

    def encode(self, buf: Any) -> bytes:
        """One self-contained container for the array ``buf``."""
        return self._codec.encode(buf)

    def decode(self, buf: Any, out: Any = None) -> Any:
        """The reconstruction in the original dtype and shape, copied into ``out`` when given."""
        return ndarray_copy(self._codec.decode(buf), out)
