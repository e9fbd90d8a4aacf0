"""BayesQ for codecframe: uncertainty-guided post-training weight quantization with mixed precision.

    >>> from codecframe_bayesq import quantize, load            # doctest: +SKIP
    >>> qm = quantize(model, calibration_inputs, avg_bits=3.0)  # doctest: +SKIP
    >>> qm.save("model.cfr"); model2 = load("model.cfr", model) # doctest: +SKIP

See docs/bayesq.md.
"""

from .api import QuantizedModel, load, quantize

__all__ = ["quantize", "load", "QuantizedModel"]
__version__ = "0.1.0"
