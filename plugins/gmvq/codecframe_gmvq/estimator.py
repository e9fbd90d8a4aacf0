"""Posterior estimator: a GM-VQ checkpoint's encoder turns images into categorical posteriors."""

from __future__ import annotations

import dataclasses
from typing import Any

from codecframe.abc import PosteriorEstimator
from codecframe.assets import find_asset, parse_ref

from .posterior import CategoricalPosterior
from .shipped import shipped_ref
from .tokenizer import GROUP, Tokenizer

__all__ = ["GMVQEncoderEstimator"]


class GMVQEncoderEstimator(PosteriorEstimator):
    """``estimate(target, images)`` → ``{"tokens": CategoricalPosterior}`` with the checkpoint ``checkpoint``.

    ``target`` is a :class:`~codecframe_gmvq.tokenizer.Tokenizer` to use instead of the configured
    checkpoint, or None. ``images`` are ``(N, S, S)`` gray images in [0, 1].
    """

    id = "gmvq-encoder"

    @dataclasses.dataclass(frozen=True)
    class Config:
        checkpoint: str = dataclasses.field(default_factory=shipped_ref)

        def __post_init__(self) -> None:
            parse_ref(self.checkpoint)

    @classmethod
    def examples(cls) -> list[dict[str, Any]]:
        return [{}]

    def tokenizer(self) -> Tokenizer:
        """The configured checkpoint as a tokenizer (AssetError if it is not installed)."""
        return Tokenizer.load(find_asset(self.config.checkpoint))

    def estimate(self, target: Any, data: Any) -> dict[str, CategoricalPosterior]:
        tok = target if isinstance(target, Tokenizer) else self.tokenizer()
        return {GROUP: tok.posterior(data)}
