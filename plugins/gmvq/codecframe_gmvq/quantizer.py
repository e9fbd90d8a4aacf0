"""Vector quantizer: categorical posteriors → codebook indices → codewords, with a usage-count index model."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from codecframe.abc import HasProbs, Posterior, Quantizer
from codecframe.assets import load_asset, parse_ref
from codecframe.errors import ConfigError, FormatError, InputError
from codecframe.probability import ProbabilityModel
from codecframe.types import Quantized

from .checkpoint import Codebook, read_codebook
from .shipped import shipped_ref

__all__ = ["VectorQuantizer", "INDEX_MODELS", "codebook_for"]

#: How indices are modelled: the aggregated code-usage counts stored with the codebook, or uniformly.
INDEX_MODELS = ("usage", "uniform")


def codebook_for(ref: str) -> Codebook:
    """The validated codebook of the checkpoint asset ``ref`` (AssetError if it is not installed)."""
    return read_codebook(load_asset(ref))


class VectorQuantizer(Quantizer):
    """Index = the posterior's most likely codebook entry per position; reconstruction = that codeword.

    ``codebook`` references a GM-VQ checkpoint asset by sha256 (default: the shipped one); it holds
    the codewords (C, L) and the code-usage counts from which the index model is built with
    :meth:`ProbabilityModel.from_counts`, so frequent codes cost fewer than log2(C) bits. For a
    posterior of shape ``positions`` (probs ``(*positions, C)``) the reconstruction has shape
    ``(*positions, L)``, float32. There is one rate setting, ``{}``; the side info is empty.
    The indices are ``posterior.point()``, which a categorical posterior defines as its most likely
    entry; ``probs`` is read only for its number of categories and by :meth:`distortion`.
    """

    id = "gmvq"
    requires = (HasProbs,)

    @dataclasses.dataclass(frozen=True)
    class Config:
        codebook: str = dataclasses.field(default_factory=shipped_ref)
        model: str = "usage"

        def __post_init__(self) -> None:
            parse_ref(self.codebook)
            if self.model not in INDEX_MODELS:
                raise ConfigError(f"quantizer 'gmvq': model must be one of {', '.join(INDEX_MODELS)}, got {self.model!r}")

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}, {"model": "uniform"}]

    @property
    def codebook(self) -> Codebook:
        return codebook_for(self.config.codebook)

    def settings(self) -> list[dict[str, Any]]:
        return [{}]

    def default_setting(self) -> dict[str, Any]:
        return {}

    def _check_setting(self, setting: Mapping[str, Any]) -> None:
        if dict(setting):
            raise ConfigError(f"{self.describe()}: the only setting is {{}}, got {dict(setting)!r}")

    def _check_posterior(self, posterior: Posterior) -> None:
        if not isinstance(posterior, HasProbs):
            raise InputError(f"{self.describe()} needs a posterior with probs, got {type(posterior).__name__}")
        categories = getattr(posterior, "num_categories", None)
        if categories is None:
            categories = np.shape(posterior.probs)[-1]
        if categories != self.codebook.size:
            raise InputError(
                f"{self.describe()}: posterior has {categories} categories, "
                f"the codebook {self.config.codebook[:19]}… has {self.codebook.size}"
            )

    def quantize(self, posterior: Posterior, setting: Mapping[str, Any]) -> Quantized:
        self._check_setting(setting)
        self._check_posterior(posterior)
        index = np.asarray(posterior.point())
        symbols = index.astype(np.int32).ravel()
        return Quantized(symbols, {}, {}, (*index.shape, self.codebook.dim), "float32")

    def _positions(self, q: Quantized) -> int:
        self._check_setting(q.setting)
        if dict(q.side):
            raise FormatError(f"{self.describe()}: side info must be empty, got keys {sorted(q.side)}")
        if q.dtype != "float32" or len(q.shape) < 1 or q.shape[-1] != self.codebook.dim:
            raise FormatError(
                f"{self.describe()}: reconstruction must be float32 with last axis {self.codebook.dim} "
                f"(the codeword length), got {q.dtype} {tuple(q.shape)}"
            )
        return int(np.prod(q.shape[:-1], dtype=np.int64))

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, None]:
        self._positions(q)
        return _index_model(self.config.codebook, self.config.model, precision), None

    def dequantize(self, q: Quantized) -> np.ndarray:
        positions = self._positions(q)
        symbols = np.asarray(q.symbols)
        if symbols.shape != (positions,):
            raise FormatError(f"{self.describe()}: {symbols.size} indices for {positions} positions")
        if symbols.size and (symbols.min() < 0 or symbols.max() >= self.codebook.size):
            raise InputError(f"{self.describe()}: indices must be in 0..{self.codebook.size - 1}, got {symbols.min()}..{symbols.max()}")
        return self.codebook.vectors[symbols].reshape(q.shape)

    def distortion(self, posterior: Posterior, reconstruction: np.ndarray) -> float:
        """Posterior-expected squared error in latent space: Σ_m Σ_c q_m(c) ||μ_c - x̂_m||²."""
        self._check_posterior(posterior)
        probs = np.asarray(posterior.probs, np.float64).reshape(-1, self.codebook.size)
        rec = np.asarray(reconstruction, np.float64).reshape(len(probs), -1)
        mu = self.codebook.vectors.astype(np.float64)
        d = (rec * rec).sum(1)[:, None] - 2.0 * rec @ mu.T + (mu * mu).sum(1)[None, :]
        return float(np.sum(probs * np.maximum(d, 0.0)))


@functools.lru_cache(maxsize=32)
def _index_model(ref: str, model: str, precision: int) -> ProbabilityModel:
    counts = codebook_for(ref).counts
    if model == "uniform":
        counts = np.ones_like(counts)
    return ProbabilityModel.from_counts(counts, precision=precision)
