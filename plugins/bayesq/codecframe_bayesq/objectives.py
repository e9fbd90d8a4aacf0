"""What a model's outputs mean to BayesQ: a likelihood (for the Fisher) and a divergence (for fidelity).

Two output kinds:

- ``"logits"`` (classifiers, language models): one categorical per position over the last axis.
  Likelihood ``softmax(logits)``; divergence ``KL(p_ref ‖ p)``. The Fisher of a categorical with
  labels sampled from the model is the GGN, so the posterior measures how much a weight moves the
  predictive distribution.
- ``"embedding"`` (sentence encoders, pooled features): an isotropic Gaussian
  ``y ~ N(e(x), σ² I)`` around the embedding ``e(x)``. Its Fisher is ``Jᵀ J / σ²`` and its
  divergence ``‖e_ref − e‖² / (2σ²)``. Adapters L2-normalise embeddings by default, and on the unit
  sphere ``‖a − b‖² = 2 − 2 cos(a, b)``: the divergence is then the cosine distance that embedding
  users evaluate with (``σ`` only scales the precision, which ``posterior_scale`` rescales anyway).

``weight`` arguments are optional ``(N, T)`` 0/1 masks over positions (padding gets 0 and never
counts); an output without a position axis ignores them.
"""

from __future__ import annotations

import abc
import dataclasses

import torch
from torch.nn import functional as F

from codecframe.errors import ConfigError, InputError

__all__ = ["Objective", "Categorical", "Gaussian", "objective_for", "OUTPUT_KINDS"]

OUTPUT_KINDS = ("logits", "embedding")


def _position_weight(out: torch.Tensor, weight: torch.Tensor | None, event_dims: int) -> torch.Tensor | None:
    """``weight`` as a float tensor over ``out``'s batch and position axes, or None if it does not apply."""
    if weight is None:
        return None
    lead = out.shape[: out.ndim - event_dims]
    if tuple(weight.shape) != tuple(lead):
        return None
    return weight.to(out.dtype)


class Objective(abc.ABC):
    """Interface: pseudo-targets from the model's own predictive, their NLL, and a divergence."""

    kind: str = ""

    @abc.abstractmethod
    def target_shape(self, out: torch.Tensor) -> tuple[int, ...]:
        """The shape targets of ``out`` must have."""

    def check_targets(self, out: torch.Tensor, targets: torch.Tensor) -> None:
        """InputError unless ``targets`` fit the outputs ``out``."""
        if tuple(targets.shape) != self.target_shape(out):
            raise InputError(f"calibration targets of shape {tuple(targets.shape)} do not match the model's "
                             f"{self.kind} {tuple(out.shape)}: expected {self.target_shape(out)}")

    @abc.abstractmethod
    def sample(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Pseudo-targets drawn from the predictive of ``out``."""

    @abc.abstractmethod
    def nll(self, out: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood summed over samples and (unmasked) positions."""

    @abc.abstractmethod
    def divergence(self, ref: torch.Tensor, out: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample divergence of ``out`` from the reference outputs ``ref`` (mean over unmasked positions)."""


@dataclasses.dataclass(frozen=True)
class Categorical(Objective):
    """Categorical likelihood over the last axis of logits."""

    kind = "logits"

    def target_shape(self, out: torch.Tensor) -> tuple[int, ...]:
        return tuple(out.shape[:-1])

    def sample(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        probs = torch.softmax(out.detach().double(), -1).reshape(-1, out.shape[-1])
        return torch.multinomial(probs, 1, generator=generator).reshape(out.shape[:-1])

    def nll(self, out: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        losses = F.cross_entropy(out.reshape(-1, out.shape[-1]), targets.reshape(-1).long(), reduction="none")
        w = _position_weight(out, weight, 1)
        return losses.sum() if w is None else (losses * w.reshape(-1)).sum()

    def divergence(self, ref: torch.Tensor, out: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        lr, lq = torch.log_softmax(ref.double(), -1), torch.log_softmax(out.double(), -1)
        kl = (lr.exp() * (lr - lq)).sum(-1)
        return _mean_positions(kl, _position_weight(out, weight, 1))


@dataclasses.dataclass(frozen=True)
class Gaussian(Objective):
    """Isotropic Gaussian likelihood with standard deviation ``sigma`` around the embedding."""

    sigma: float = 1.0
    kind = "embedding"

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ConfigError(f"Gaussian objective: sigma must be > 0, got {self.sigma!r}")

    def target_shape(self, out: torch.Tensor) -> tuple[int, ...]:
        return tuple(out.shape)

    def sample(self, out: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(out.shape, generator=generator, dtype=torch.float64)
        return out.detach().double() + self.sigma * noise

    def nll(self, out: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        sq = ((out - targets.to(out.dtype)) ** 2).sum(-1) / (2.0 * self.sigma ** 2)
        w = _position_weight(out, weight, 1)
        return sq.sum() if w is None else (sq * w).sum()

    def divergence(self, ref: torch.Tensor, out: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        sq = ((ref.double() - out.double()) ** 2).sum(-1) / (2.0 * self.sigma ** 2)
        return _mean_positions(sq, _position_weight(out, weight, 1))


def _mean_positions(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean over every axis but the first (weighted by ``weight`` where given)."""
    if values.ndim == 1:
        return values
    if weight is None:
        return values.reshape(values.shape[0], -1).mean(1)
    w = weight.reshape(values.shape[0], -1).double()
    return (values.reshape(values.shape[0], -1) * w).sum(1) / w.sum(1).clamp_min(1.0)


def objective_for(kind: str) -> Objective:
    """The default objective of an output kind (``"logits"`` or ``"embedding"``)."""
    if kind == "logits":
        return Categorical()
    if kind == "embedding":
        return Gaussian()
    raise ConfigError(f"output kind must be one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")
