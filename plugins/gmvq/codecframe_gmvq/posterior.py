"""Categorical posterior q(c|x) over the entries of a codebook, one distribution per latent position."""

from __future__ import annotations

from typing import Any

import numpy as np

from codecframe.abc import HasProbs, Posterior
from codecframe.errors import InputError

__all__ = ["CategoricalPosterior", "softmax"]

#: Largest allowed deviation of a probability row's sum from 1 in :meth:`CategoricalPosterior.from_probs`.
SUM_TOLERANCE = 1e-3


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax along the last axis in float64."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


class CategoricalPosterior(Posterior, HasProbs):
    """q(c) = softmax(logits) along the last axis; ``logits`` has shape ``(*positions, C)``.

    Logits are float32 or float64; ``-inf`` marks an impossible entry, every row needs a finite
    maximum. The group's shape is ``positions``; the point estimate is the most likely entry per
    position (the first one on ties) as int64. ``probs`` is computed on access, in float64.
    """

    id = "categorical"
    fields = ("logits",)

    def validate(self, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
        where = self.describe()
        logits = np.asarray(arrays["logits"])
        if logits.dtype not in (np.float32, np.float64):
            raise InputError(f"{where}: logits must be float32 or float64, got dtype {logits.dtype}")
        if logits.ndim < 1 or logits.shape[-1] < 2:
            raise InputError(f"{where}: logits need a last axis of at least 2 categories, got shape {logits.shape}")
        if np.any(np.isnan(logits)) or np.any(logits == np.inf):
            raise InputError(f"{where}: logits must not be NaN or +inf")
        if logits.size and not np.all(np.isfinite(logits.max(-1))):
            raise InputError(f"{where}: every position needs at least one finite logit")
        return {"logits": logits}

    @classmethod
    def from_probs(cls, probs: np.ndarray) -> CategoricalPosterior:
        """Posterior with the given probabilities (non-negative rows summing to 1)."""
        p = np.asarray(probs)
        if p.dtype.kind != "f" or not np.all(np.isfinite(p)) or np.any(p < 0):
            raise InputError(f"{cls.describe()}: probs must be finite non-negative floats")
        sums = p.sum(-1, dtype=np.float64)
        if sums.size and np.max(np.abs(sums - 1.0)) > SUM_TOLERANCE:
            raise InputError(f"{cls.describe()}: every probs row must sum to 1 (worst: {sums.flat[np.argmax(np.abs(sums - 1.0))]:.6g})")
        with np.errstate(divide="ignore"):
            return cls(logits=np.log(p.astype(np.float64)))

    @classmethod
    def example(cls, rng: np.random.Generator, shape: tuple[int, ...]) -> CategoricalPosterior:
        """Random peaked posteriors over 256 categories (the size of the shipped codebook)."""
        return cls(logits=3.0 * rng.standard_normal((*shape, 256)))

    @property
    def logits(self) -> np.ndarray:
        return self._arrays["logits"]

    @property
    def probs(self) -> np.ndarray:
        return softmax(self.logits)

    @property
    def num_categories(self) -> int:
        return int(self.logits.shape[-1])

    def point(self) -> np.ndarray:
        return np.argmax(self.logits, axis=-1)

    def entropy(self) -> np.ndarray:
        """Per-position entropy in nats."""
        p = self.probs
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
