"""BayesQ for codecframe: uncertainty-guided post-training weight quantization with mixed precision.

    >>> from codecframe_bayesq import quantize, load            # doctest: +SKIP
    >>> qm = quantize(model, calibration_inputs, avg_bits=3.0)  # doctest: +SKIP
    >>> qm.save("model.cfr"); model2 = load("model.cfr", model) # doctest: +SKIP

See docs/bayesq.md.
"""

from __future__ import annotations

from typing import Any

__all__ = ["quantize", "load", "QuantizedModel"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import the torch-based API on first use, so loading a component or the CLI stays cheap."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
