"""Value types exchanged by the components (see :mod:`codecframe.abc`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from . import canonical

__all__ = ["Quantized", "RateOption", "AllocationGroup", "SymbolModel"]


@runtime_checkable
class SymbolModel(Protocol):
    """An integer probability model an entropy coder can use.

    ``kind`` says what a coder must support to use it ("table": :class:`~codecframe.probability.ProbabilityModel`;
    "parametric": :class:`~codecframe.probability.ParametricModel`).
    """

    kind: str
    precision: int

    def information(self, symbols: np.ndarray, indexes: np.ndarray | None = None) -> float:
        """Ideal code length of ``symbols`` in bits under this integer model."""
        ...


@dataclasses.dataclass(frozen=True)
class Quantized:
    """One group after quantization.

    ``symbols`` (int32, 1-D) are what the entropy coder codes; ``setting`` is the rate setting used
    (JSON); ``side`` is side info the decoder needs (canonical-msgpack types: JSON, bytes, numpy
    arrays); ``shape``/``dtype`` describe the reconstruction.
    """

    symbols: np.ndarray
    setting: Mapping[str, Any]
    side: Mapping[str, Any]
    shape: tuple[int, ...]
    dtype: str

    def side_nbytes(self) -> int:
        """Size of the side info in canonical msgpack (what the container stores)."""
        return len(canonical.pack(dict(self.side)))


@dataclasses.dataclass(frozen=True)
class RateOption:
    """Estimated rate (bits) and distortion (quantizer-defined, additive over groups) of one setting."""

    setting: Mapping[str, Any]
    bits: float
    distortion: float


@dataclasses.dataclass(frozen=True)
class AllocationGroup:
    """What an allocator knows about one group: its name, element count, default setting and options."""

    name: str
    size: int
    default: Mapping[str, Any]
    options: tuple[RateOption, ...] = ()
