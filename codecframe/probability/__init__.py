"""Integer probability models for the entropy coders (``specs/range-coder.md``).

- :class:`ProbabilityModel` (kind "table"): integer CDF tables, one row per model.
- :class:`ParametricModel` (kind "parametric"): per-symbol quantized Gaussian/Laplace/logistic.
"""

from .parametric import ParametricModel
from .table import (
    MAX_ALPHABET,
    MAX_MODELS,
    MAX_PRECISION,
    MAX_TABLE_ENTRIES,
    MIN_PRECISION,
    ProbabilityModel,
    check_precision,
)

__all__ = [
    "ProbabilityModel",
    "ParametricModel",
    "check_precision",
    "MIN_PRECISION",
    "MAX_PRECISION",
    "MAX_ALPHABET",
    "MAX_MODELS",
    "MAX_TABLE_ENTRIES",
]
