"""GM-VQ for codecframe: Gaussian-mixture vector quantization with the aggregated categorical posterior.

Public names are imported lazily so that loading a component by entry point (e.g. the ``gmvq``
quantizer to decode a file) does not import PyTorch:

- :class:`Tokenizer`: images ↔ indices, ``.cfr`` containers (``codecframe_gmvq.tokenizer``);
- :class:`CategoricalPosterior`, :class:`VectorQuantizer`: the registered components;
- :class:`ModelConfig`, :class:`TrainConfig`: the model and its training (``codecframe_gmvq.train.train``).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Tokenizer", "CategoricalPosterior", "VectorQuantizer", "ModelConfig", "TrainConfig", "data"]

_WHERE = {
    "Tokenizer": "tokenizer",
    "CategoricalPosterior": "posterior",
    "VectorQuantizer": "quantizer",
    "ModelConfig": "model",
    "TrainConfig": "train",
}


def __getattr__(name: str) -> Any:
    if name == "data":
        return importlib.import_module(".data", __name__)
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
