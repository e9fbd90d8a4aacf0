"""The ALBO training objective of GM-VQ and its entropy terms (natural logarithms throughout).

    L = mean ||x - D(z)||²  +  κ · ( γ · mean_m Σ_c q(c|x_m) ||ẑ_m - μ_c||²  -  β · H )

This is the negative ALBO per pixel: with p(x|z) = N(D(z), σ_x² I) the reconstruction term is
Σ_pixels (x - x̂)² / (2σ_x²) per image while the latent and entropy terms count once per latent
position, so κ = 2σ_x² · positions / pixels (``scale``).

with ``H = H(q̄)``, the entropy of the aggregated posterior q̄(c) = mean_m q(c|x_m) over the batch
and the latent positions (``entropy="aggregated"``, the paper's ALBO), or ``H = mean_m H(q(c|x_m))``
(``entropy="per-sample"``, the ELBO-style ablation), or no entropy term (``entropy="none"``).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from codecframe.errors import ConfigError

__all__ = ["ENTROPY_MODES", "aggregated_entropy", "per_sample_entropy", "albo_loss"]

ENTROPY_MODES = ("aggregated", "per-sample", "none")


def aggregated_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(q̄) of the batch-averaged posterior; ``probs`` is ``(M, C)``."""
    agg = probs.mean(0)
    return -(agg * torch.log(agg.clamp_min(1e-12))).sum()


def per_sample_entropy(logits: torch.Tensor) -> torch.Tensor:
    """mean_m H(q(c|x_m)) for ``(M, C)`` logits."""
    logp = F.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1).mean()


def albo_loss(
    mse: torch.Tensor,
    parts: dict[str, torch.Tensor],
    beta: float,
    gamma: float,
    entropy: str = "aggregated",
    scale: float = 1.0,
) -> torch.Tensor:
    """``mse + scale·(γ·latent - β·H)`` from the terms :class:`~codecframe_gmvq.model.GaussianMixtureVQ` returns."""
    if entropy not in ENTROPY_MODES:
        raise ConfigError(f"entropy must be one of {', '.join(ENTROPY_MODES)}, got {entropy!r}")
    prior = gamma * parts["latent"]
    if entropy == "aggregated":
        prior = prior - beta * parts["h_aggregated"]
    elif entropy == "per-sample":
        prior = prior - beta * parts["h_per_sample"]
    return mse + scale * prior
