"""Decode a container and also return each group's entropy-decoded symbols.

``codecframe.decode`` returns reconstructions only; conformance compares symbols exactly, so this
module re-runs the documented decoding procedure (``specs/bitstream.md`` §5, steps 2–4) with the
public pieces: the validated header, the registry (quantizer and entropy coder only: posterior and
allocator are provenance), ``Quantizer.symbol_model`` and ``EntropyCoder.decode``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import container
from ..errors import FormatError
from ..pipeline import Decoded, decode
from ..registry import Registry, registry as default_registry
from ..types import Quantized

__all__ = ["DecodedSymbols", "decode_with_symbols"]


@dataclasses.dataclass(frozen=True)
class DecodedSymbols:
    """:class:`~codecframe.pipeline.Decoded` plus the int32 symbols of every group, by name."""

    decoded: Decoded
    symbols: dict[str, np.ndarray]


def decode_with_symbols(data: bytes, registry: Registry | None = None) -> DecodedSymbols:
    """Decode ``data`` and return its reconstructions together with the symbols they came from.

    The symbols are decoded a second time from the same streams and checked against the
    reconstruction (their dequantization must equal it bit for bit), so the two views agree.
    """
    reg = registry or default_registry
    decoded = decode(data, registry=reg)
    box = container.read(data)
    config = decoded.header["pipeline"]
    q, coder = reg.create("quantizer", config["quantizer"]), reg.create("entropy_coder", config["entropy_coder"])
    symbols = {}
    for i, rec in enumerate(decoded.header["groups"]):
        probe = Quantized(np.zeros(0, np.int32), rec["setting"], rec["side"], tuple(rec["shape"]), rec["dtype"])
        model, indexes = q.symbol_model(probe, coder.precision)
        sym = coder.decode(box.streams[i], model, rec["count"], indexes)
        values = q.dequantize(dataclasses.replace(probe, symbols=sym))
        if values.tobytes() != decoded.arrays[rec["name"]].tobytes():
            raise FormatError(f"group {rec['name']!r}: a second decode of the symbols gives another reconstruction")
        symbols[rec["name"]] = sym
    return DecodedSymbols(decoded, symbols)
