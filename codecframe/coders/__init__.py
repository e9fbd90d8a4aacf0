"""Entropy coders: ``range`` (default) and ``rans``, both over :mod:`codecframe.probability` models."""

from .base import MAX_COUNT, CoderConfig
from .range import RangeCoder
from .rans import RansCoder

__all__ = ["RangeCoder", "RansCoder", "CoderConfig", "MAX_COUNT"]
