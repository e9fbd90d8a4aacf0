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

CHUNK = 4096

#: How indices are modelled: by the aggregated code-usage counts stored with the codebook ("usage"),
#: by this group's own index counts carried in the side info ("fitted"), or uniformly ("uniform").
INDEX_MODELS = ("usage", "fitted", "uniform")


def codebook_for(ref: str) -> Codebook:
    """The validated codebook of the checkpoint asset ``ref`` (AssetError if it is not installed)."""
    return read_codebook(load_asset(ref))


class VectorQuantizer(Quantizer):
    """Index = the posterior's most likely codebook entry per position; reconstruction = that codeword.

    ``codebook`` references a GM-VQ checkpoint asset by sha256 (default: the shipped one); it holds
    the codewords (C, L) and the code-usage counts. For a posterior of shape ``positions`` (probs
    ``(*positions, C)``) the reconstruction has shape ``(*positions, L)``, float32.

    The setting ``{"index_model": m}`` picks the integer model of the indices, built with
    :meth:`ProbabilityModel.from_counts`: ``"usage"`` from the asset's training-set usage counts
    (frequent codes cost fewer than log2(C) bits; no side info), ``"fitted"`` from this group's own
    counts, carried as side info ``{"counts": [C integers]}``, or ``"uniform"``. The reconstruction
    does not depend on the setting, so an allocator simply picks the cheapest;
    :meth:`cheapest_setting` does so directly. ``model`` in the config is the default setting.
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
        return [{}, {"model": "fitted"}, {"model": "uniform"}]

    @property
    def codebook(self) -> Codebook:
        return codebook_for(self.config.codebook)

    def settings(self) -> list[dict[str, Any]]:
        return [{"index_model": m} for m in INDEX_MODELS]

    def default_setting(self) -> dict[str, Any]:
        return {"index_model": self.config.model}

    def _index_model(self, setting: Mapping[str, Any]) -> str:
        value = setting.get("index_model") if set(setting) == {"index_model"} else None
        if not isinstance(value, str) or value not in INDEX_MODELS:
            raise ConfigError(
                f"{self.describe()}: setting must be {{'index_model': one of {', '.join(INDEX_MODELS)}}}, got {dict(setting)!r}"
            )
        return str(setting["index_model"])

    def cheapest_setting(self, posterior: Posterior, precision: int) -> dict[str, Any]:
        """The setting whose coded size (ideal bits plus side info) is smallest for ``posterior``."""
        best: tuple[float, dict[str, Any]] | None = None
        for setting in self.settings():
            q = self.quantize(posterior, setting)
            model, _ = self.symbol_model(q, precision)
            bits = model.information(q.symbols) + 8.0 * q.side_nbytes()
            if best is None or bits < best[0]:
                best = (bits, setting)
        assert best is not None
        return best[1]

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
        model = self._index_model(setting)
        self._check_posterior(posterior)
        index = np.asarray(posterior.point())
        symbols = index.astype(np.int32).ravel()
        side: dict[str, Any] = {}
        if model == "fitted":
            side["counts"] = [int(c) for c in np.bincount(symbols, minlength=self.codebook.size)]
        return Quantized(symbols, {"index_model": model}, side, (*index.shape, self.codebook.dim), "float32")

    def _positions(self, q: Quantized) -> int:
        model = self._index_model(q.setting)
        expected = {"counts"} if model == "fitted" else set()
        if set(q.side) != expected:
            raise FormatError(f"{self.describe()}: side info for index model {model!r} must have keys {sorted(expected)}, got {sorted(q.side)}")
        if q.dtype != "float32" or len(q.shape) < 1 or q.shape[-1] != self.codebook.dim:
            raise FormatError(
                f"{self.describe()}: reconstruction must be float32 with last axis {self.codebook.dim} "
                f"(the codeword length), got {q.dtype} {tuple(q.shape)}"
            )
        return int(np.prod(q.shape[:-1], dtype=np.int64))

    def symbol_count(self, q: Quantized) -> int:
        """One index per latent position: the product of ``shape[:-1]``."""
        return self._positions(q)

    def symbol_model(self, q: Quantized, precision: int) -> tuple[ProbabilityModel, None]:
        positions = self._positions(q)
        model = q.setting["index_model"]
        if model != "fitted":
            return _stored_model(self.config.codebook, model, precision), None
        counts = q.side["counts"]
        if (
            not isinstance(counts, list)
            or len(counts) != self.codebook.size
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
            or sum(counts) != positions
        ):
            raise FormatError(
                f"{self.describe()}: side info 'counts' must be {self.codebook.size} non-negative integers summing to {positions}"
            )
        return ProbabilityModel.from_counts(np.asarray(counts, np.int64), precision=precision), None

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
        total = 0.0
        for i in range(0, len(probs), CHUNK):  # bounded memory: CHUNK x C distances at a time
            r = rec[i: i + CHUNK]
            d = (r * r).sum(1)[:, None] - 2.0 * r @ mu.T + (mu * mu).sum(1)[None, :]
            total += float(np.sum(probs[i: i + CHUNK] * np.maximum(d, 0.0)))
        return total


@functools.lru_cache(maxsize=32)
def _stored_model(ref: str, model: str, precision: int) -> ProbabilityModel:
    counts = codebook_for(ref).counts
    if model == "uniform":
        counts = np.ones_like(counts)
    return ProbabilityModel.from_counts(counts, precision=precision)
