"""codecframe: uncertainty-aware compression from replaceable parts.

    >>> import numpy as np, codecframe
    >>> from codecframe.builtins.gaussian import GaussianPosterior
    >>> pipe = codecframe.Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.5}})
    >>> data = pipe.encode({"x": GaussianPosterior(mean=np.array([0.1, 1.2, -0.7]), std=np.ones(3))})
    >>> codecframe.decode(data).arrays["x"]
    array([ 0. ,  1. , -0.5])
"""

from .errors import CodecframeError
from .pipeline import Decoded, Pipeline, decode
from .registry import registry

__all__ = ["Pipeline", "Decoded", "decode", "registry", "CodecframeError", "__version__"]
__version__ = "0.1.0"
