"""codecframe: uncertainty-aware compression from replaceable parts.

    >>> import numpy as np, codecframe
    >>> from codecframe.builtins.gaussian import GaussianPosterior
    >>> pipe = codecframe.Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.5}})
    >>> data = pipe.encode({"x": GaussianPosterior(mean=np.array([0.1, 1.2, -0.7]), std=np.ones(3))})
    >>> codecframe.decode(data).arrays["x"]
    array([ 0. ,  1. , -0.5])
"""

from typing import Any

from .errors import CodecframeError

__all__ = ["Pipeline", "Decoded", "decode", "registry", "CodecframeError", "__version__"]
__version__ = "0.1.0"

_LAZY = {"Pipeline": "pipeline", "Decoded": "pipeline", "decode": "pipeline", "registry": "registry"}


def __getattr__(name: str) -> Any:
    """Import the pipeline and registry on first use, so importing a coder alone stays cheap."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'codecframe' has no attribute {name!r}")
