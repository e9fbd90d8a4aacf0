"""What the two jitted coders share: config, argument checks, decode limits, error messages."""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from ..abc import EntropyCoder
from ..errors import ConfigError, DecodeError, EncodeError, IncompatibleError, InputError, LimitError
from ..probability import ParametricModel, ProbabilityModel, check_precision
from ..probability.kernels import build_lut, lut_bits

__all__ = ["CoderConfig", "KernelCoder", "MAX_COUNT"]

#: Most symbols one call encodes or decodes (int32 positions).
MAX_COUNT = (1 << 31) - 1


@dataclasses.dataclass(frozen=True)
class CoderConfig:
    """``precision``: bits of the probability models (12..24) a pipeline builds for this coder."""

    precision: int = 16

    def __post_init__(self) -> None:
        check_precision(self.precision, ConfigError)


def _symbols(symbols: Any) -> np.ndarray:
    sym = np.asarray(symbols)
    if sym.dtype == np.bool_ or not np.issubdtype(sym.dtype, np.integer) or sym.ndim != 1:
        raise InputError(f"symbols must be a 1-D integer array, got {sym.dtype} of shape {sym.shape}")
    if sym.shape[0] > MAX_COUNT:
        raise InputError(f"{sym.shape[0]} symbols exceed the limit of {MAX_COUNT} per stream")
    if sym.dtype != np.int32:
        if sym.size and (sym.min() < -(1 << 31) or sym.max() > (1 << 31) - 1):
            raise InputError("symbols must fit in int32")
    return np.ascontiguousarray(sym, dtype=np.int32)


def _table_indexes(model: ProbabilityModel, indexes: Any, count: int) -> tuple[np.ndarray, bool]:
    """``(indexes, single)``; the jitted loops check every index themselves."""
    if indexes is None:
        if model.num_models != 1:
            raise InputError(f"a table of {model.num_models} models needs per-symbol indexes")
        return np.zeros(0, np.int32), True
    idx = np.asarray(indexes)
    if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer) or idx.shape != (count,):
        raise InputError(f"indexes must be an integer array of shape ({count},), got {idx.dtype} {idx.shape}")
    if idx.dtype != np.int32 and count and (idx.min() < 0 or idx.max() >= model.num_models):
        raise InputError(f"indexes must lie in 0..{model.num_models - 1}")
    return np.ascontiguousarray(idx, dtype=np.int32), False


def _min_bits(model: ProbabilityModel | ParametricModel) -> float:
    """A lower bound on the bits any one symbol costs under ``model`` (0 if some symbol is certain)."""
    total = 1 << model.precision
    if isinstance(model, ProbabilityModel):
        top = int(model.freqs.max())
    else:
        top = total - (model.size - 1)
    return model.precision - math.log2(top) if top < total else 0.0


class KernelCoder(EntropyCoder, abc.ABC):
    """An :class:`EntropyCoder` over jitted loops for table and parametric models.

    Subclasses provide the four loops and the stream framing; this class checks arguments and
    turns the loops' error codes into codecframe errors.
    """

    Config: ClassVar[type] = CoderConfig
    model_kinds: ClassVar[frozenset[str]] = frozenset({"table", "parametric"})
    #: Bits a valid stream of ``n`` bytes can carry, as ``a * n + b`` (bounds ``count`` before decoding).
    capacity: ClassVar[tuple[int, int]]
    #: How many bits a symbol may cost below its ideal ``precision - log2(freq)`` in this coder.
    slack: ClassVar[float] = 0.0

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"precision": 12}, {"precision": 24}]

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _encode_table(self, sym: np.ndarray, idx: np.ndarray, single: bool, model: ProbabilityModel) -> tuple[bytes, int, int]:
        """``(data, err, errpos)``."""

    @abc.abstractmethod
    def _encode_param(self, sym: np.ndarray, idx: np.ndarray, identity: bool, model: ParametricModel) -> tuple[bytes, int, int]:
        """``(data, err, errpos)``."""

    @abc.abstractmethod
    def _decode_table(
        self, data: bytes, count: int, idx: np.ndarray, single: bool, model: ProbabilityModel, lut: np.ndarray, bits: int
    ) -> tuple[np.ndarray, int, int, bool]:
        """``(symbols, err, errpos, ended_cleanly)``."""

    @abc.abstractmethod
    def _decode_param(
        self, data: bytes, count: int, idx: np.ndarray, identity: bool, model: ParametricModel
    ) -> tuple[np.ndarray, int, int, bool]:
        """``(symbols, err, errpos, ended_cleanly)``."""

    # ------------------------------------------------------------------ API
    def _check_model(self, model: Any) -> ProbabilityModel | ParametricModel:
        if isinstance(model, (ProbabilityModel, ParametricModel)):
            return model
        kind = getattr(model, "kind", type(model).__name__)
        raise IncompatibleError(f"{self.describe()} codes models of kind table or parametric, not {kind!r}")

    def encode(self, symbols: np.ndarray, model: Any, indexes: np.ndarray | None = None) -> bytes:
        """Encode ``symbols`` (int32, 1-D) under ``model`` (the model's own precision is used)."""
        sym = _symbols(symbols)
        model = self._check_model(model)
        # errstate: the loops rely on uint64 wrap-around, which numpy reports when NUMBA_DISABLE_JIT=1
        with np.errstate(over="ignore"):
            if isinstance(model, ProbabilityModel):
                idx, single = _table_indexes(model, indexes, sym.shape[0])
                data, err, pos = self._encode_table(sym, idx, single, model)
            else:
                idx, single = model.check_indexes(indexes, sym.shape[0])
                data, err, pos = self._encode_param(sym, idx, single, model)
        if err:
            self._raise_encode(err, pos, sym, idx, single, model)
        return data

    def decode(self, data: bytes, model: Any, count: int, indexes: np.ndarray | None = None) -> np.ndarray:
        """Decode ``count`` symbols; a stream this coder could not have written raises DecodeError."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InputError(f"data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        model = self._check_model(model)
        if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)) or count < 0:
            raise InputError(f"count must be a non-negative integer, got {count!r}")
        count = int(count)
        if count > MAX_COUNT:
            raise LimitError(f"count {count} exceeds the limit of {MAX_COUNT} symbols per stream")
        floor = _min_bits(model) - self.slack
        a, b = self.capacity
        if floor > 0 and count * floor > a * len(data) + b + 1e-6 * count * floor:
            raise LimitError(
                f"{len(data)} bytes cannot hold {count} symbols: each costs at least {floor:.3g} bits under this model"
            )
        with np.errstate(over="ignore"):
            if isinstance(model, ProbabilityModel):
                idx, single = _table_indexes(model, indexes, count)
                bits = lut_bits(model.num_models, model.precision)
                lut = build_lut(model.cdf, model.sizes, model.precision, bits)
                out, err, pos, clean = self._decode_table(data, count, idx, single, model, lut, bits)
            else:
                idx, single = model.check_indexes(indexes, count)
                out, err, pos, clean = self._decode_param(data, count, idx, single, model)
        if err == 2:
            raise InputError(f"indexes[{pos}] = {int(idx[pos])} is outside the model's 0..{self._rows(model) - 1}")
        if err == 3:
            raise DecodeError(f"invalid code point at symbol {pos}: the stream is corrupt or the model differs")
        if err == 4:
            raise DecodeError(f"escape payload of symbol {pos} declares more than 31 bits")
        if err == 5:
            raise DecodeError(f"escaped symbol {pos} lies outside the int32 range")
        if err:
            raise DecodeError(f"decoder failed with code {err} at symbol {pos}")
        if not clean:
            raise DecodeError(
                "the stream does not end where its encoder would have ended it (truncated, extended, corrupt, "
                "or decoded with a different model or count)"
            )
        return out

    @staticmethod
    def _rows(model: ProbabilityModel | ParametricModel) -> int:
        return model.num_models if isinstance(model, ProbabilityModel) else model.num_params

    def _raise_encode(self, err: int, pos: int, sym: np.ndarray, idx: np.ndarray, single: bool, model: Any) -> None:
        if err == 2:
            raise InputError(f"indexes[{pos}] = {int(idx[pos])} is outside 0..{self._rows(model) - 1}")
        if err == 1:
            if isinstance(model, ProbabilityModel):
                m = 0 if single else int(idx[pos])
                lo = int(model.offsets[m])
                support = f"model {m}'s support {lo}..{lo + int(model.sizes[m]) - 1}"
            else:
                support = f"the support {model.lo}..{model.hi} (the model has no escape)"
            raise EncodeError(f"symbol {int(sym[pos])} at position {pos} is outside {support}")
        raise EncodeError(f"encoder failed with code {err} at symbol {pos}")
