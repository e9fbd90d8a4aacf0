"""Conformance: the vector corpus, its generator, and a runner for any decoder (``docs/conformance.md``)."""

from . import case_sets
from .cases import NegativeCase, PositiveCase
from .corpus import Corpus, CorpusError, Vector, default_corpus
from .decoding import DecodedSymbols, decode_with_symbols
from .generate import generate
from .runner import CommandDecoder, InProcessDecoder, Outcome, Result, run
from .cases import Tolerance  # noqa: E402,F401,I001 - (max_abs, rmse) per group; own line for clean merges

__all__ = [
    "Corpus",
    "CorpusError",
    "Vector",
    "default_corpus",
    "PositiveCase",
    "NegativeCase",
    "DecodedSymbols",
    "decode_with_symbols",
    "generate",
    "CommandDecoder",
    "InProcessDecoder",
    "Outcome",
    "Result",
    "run",
    "case_sets",
]
