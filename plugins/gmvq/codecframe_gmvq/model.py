"""The autoencoder and its quantization layers (GM-VQ and the baselines), in PyTorch.

All methods share one encoder/decoder: for 8×8 gray images the encoder gives a 4×4 grid of
``latent_dim``-vectors; each grid position is quantized to one of ``codebook_size`` codewords.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from codecframe.errors import ConfigError

from .losses import aggregated_entropy, per_sample_entropy

__all__ = ["ModelConfig", "METHODS", "Autoencoder", "QuantOut", "squared_distances"]

#: Largest patch side a model may declare (a checkpoint's config is untrusted input).
MAX_IMAGE_SIZE = 1024
#: Quantization methods: GM-VQ and the baselines of the benchmark.
METHODS = ("gmvq", "vqvae", "vqvae-ema", "gumbel")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of one tokenizer (JSON-only; stored in every checkpoint)."""

    method: str = "gmvq"
    image_size: int = 8
    latent_dim: int = 16
    codebook_size: int = 256
    hidden: int = 64
    #: GM-VQ: fixed variance σ² of the distance logits ℓ_c = -Σ_l w_l (ẑ_l - μ_cl)² / (2σ²).
    sigma2: float = 0.002
    #: GM-VQ: learn the per-dimension feature weights w_l (else w ≡ 1).
    learn_weights: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"gmvq model: method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not 4 <= self.image_size <= MAX_IMAGE_SIZE or self.image_size % 2:
            raise ConfigError(f"gmvq model: image_size must be an even number in 4..{MAX_IMAGE_SIZE}, got {self.image_size}")
        if not 2 <= self.codebook_size <= 65536:
            raise ConfigError(f"gmvq model: codebook_size must be in 2..65536, got {self.codebook_size}")
        if self.latent_dim < 1 or self.hidden < 2:
            raise ConfigError("gmvq model: latent_dim must be >= 1 and hidden >= 2")
        if not (math.isfinite(self.sigma2) and self.sigma2 > 0):
            raise ConfigError(f"gmvq model: sigma2 must be a finite number > 0, got {self.sigma2}")

    @property
    def grid(self) -> int:
        """Side of the latent grid (tokens per image = grid²)."""
        return self.image_size // 2


@dataclasses.dataclass
class QuantOut:
    """What a quantization layer returns in training: latents for the decoder, its loss, statistics."""

    z: torch.Tensor
    loss: torch.Tensor
    probs: torch.Tensor | None
    stats: dict[str, float]


def squared_distances(z: torch.Tensor, codebook: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``(M, C)`` of Σ_l w_l (z_ml - μ_cl)², by the expanded form, clamped at 0."""
    if weights is None:
        d = (z * z).sum(1, keepdim=True) - 2.0 * z @ codebook.T + (codebook * codebook).sum(1)[None, :]
    else:
        zw = z * weights
        d = (zw * z).sum(1, keepdim=True) - 2.0 * zw @ codebook.T + (codebook * codebook * weights).sum(1)[None, :]
    return d.clamp_min(0.0)


def _gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool) -> torch.Tensor:
    u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
    soft = F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
    if not hard:
        return soft
    one_hot = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return one_hot + soft - soft.detach()


class GaussianMixtureVQ(nn.Module):
    """GM-VQ: codewords are the means of a Gaussian mixture; distance logits; adaptive noise.

    Training: ĉ ~ GumbelSoftmax(ℓ, τ); z = ĉ·μ + s(x)·ε with s²(x) = Σ_c ĉ_c ||ẑ - μ_c||² / (2σ_n²L),
    the quoted adaptive variance with its own σ_n² (``noise_sigma2``; None: no noise injection).
    Evaluation: z = μ_{argmax ℓ}. The ALBO terms are returned in ``stats``/``parts`` for the trainer.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.sigma2 = cfg.sigma2
        self.codebook = nn.Parameter(torch.randn(cfg.codebook_size, cfg.latent_dim) * 0.1)
        self.log_weights = nn.Parameter(torch.zeros(cfg.latent_dim), requires_grad=cfg.learn_weights)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return -squared_distances(z, self.codebook, self.log_weights.exp()) / (2.0 * self.sigma2)

    def codebook_vectors(self) -> torch.Tensor:
        return self.codebook

    def forward(
        self, z: torch.Tensor, tau: float, hard: bool, noise_sigma2: float | None
    ) -> tuple[QuantOut, dict[str, torch.Tensor]]:
        logits = self.logits(z)
        probs = F.softmax(logits, -1)
        dist = squared_distances(z, self.codebook)
        c = _gumbel_softmax(logits, tau, hard)
        zq = c @ self.codebook
        if noise_sigma2 is not None:
            var = (c * dist).sum(1, keepdim=True) / (2.0 * noise_sigma2 * z.shape[1])
            zq = zq + var.clamp_min(1e-12).sqrt() * torch.randn_like(zq)
        parts = {
            "latent": (probs * dist).sum(1).mean(),
            "h_aggregated": aggregated_entropy(probs),
            "h_per_sample": per_sample_entropy(logits),
        }
        stats = {k: float(v.detach()) for k, v in parts.items()}
        return QuantOut(zq, torch.zeros(()), probs, stats), parts


class StraightThroughVQ(nn.Module):
    """VQ-VAE (van den Oord et al.): nearest codeword, straight-through gradient, codebook + β·commitment loss."""

    def __init__(self, cfg: ModelConfig, commitment: float = 0.25) -> None:
        super().__init__()
        c = cfg.codebook_size
        self.commitment = commitment
        self.codebook = nn.Parameter(torch.empty(c, cfg.latent_dim).uniform_(-1.0 / c, 1.0 / c))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return -squared_distances(z, self.codebook)

    def codebook_vectors(self) -> torch.Tensor:
        return self.codebook

    def forward(self, z: torch.Tensor) -> QuantOut:
        e = self.codebook[self.logits(z).argmax(-1)]
        loss = F.mse_loss(e, z.detach()) + self.commitment * F.mse_loss(z, e.detach())
        return QuantOut(z + (e - z).detach(), loss, None, {})


class EMAVectorQuantizer(nn.Module):
    """VQ-VAE with EMA codebook, k-means init and dead-code replacement (``vector-quantize-pytorch``)."""

    def __init__(self, cfg: ModelConfig, commitment: float = 0.25) -> None:
        super().__init__()
        try:
            from vector_quantize_pytorch import VectorQuantize
        except ImportError as exc:  # optional benchmark dependency
            raise ConfigError(
                "method 'vqvae-ema' needs vector-quantize-pytorch (pip install codecframe-gmvq[bench]; see docs/gmvq.md)"
            ) from exc
        self.vq = VectorQuantize(
            dim=cfg.latent_dim,
            codebook_size=cfg.codebook_size,
            decay=0.99,
            commitment_weight=commitment,
            kmeans_init=True,
            kmeans_iters=10,
            threshold_ema_dead_code=2,
        )

    def codebook_vectors(self) -> torch.Tensor:
        return self.vq.codebook

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return -squared_distances(z, self.vq.codebook)

    def forward(self, z: torch.Tensor) -> QuantOut:
        zq, _, loss = self.vq(z[None])
        return QuantOut(zq[0], loss.reshape(()), None, {})


class GumbelVQ(nn.Module):
    """Gumbel-VQ (Jang et al.; the DALL-E/taming variant): linear logits head, soft Gumbel-softmax, KL to uniform."""

    def __init__(self, cfg: ModelConfig, kl_weight: float = 5e-4) -> None:
        super().__init__()
        self.kl_weight = kl_weight
        self.proj = nn.Linear(cfg.latent_dim, cfg.codebook_size)
        self.codebook = nn.Parameter(torch.randn(cfg.codebook_size, cfg.latent_dim))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.proj(z)

    def codebook_vectors(self) -> torch.Tensor:
        return self.codebook

    def forward(self, z: torch.Tensor, tau: float, hard: bool) -> QuantOut:
        logits = self.logits(z)
        probs = F.softmax(logits, -1)
        zq = _gumbel_softmax(logits, tau, hard) @ self.codebook
        h = per_sample_entropy(logits)
        kl = math.log(logits.shape[1]) - h  # KL(q(c|x) || uniform), averaged over positions
        stats = {"h_per_sample": float(h.detach()), "h_aggregated": float(aggregated_entropy(probs).detach())}
        return QuantOut(zq, self.kl_weight * kl, probs, stats)


class Autoencoder(nn.Module):
    """Encoder → quantization layer → decoder. ``encode`` gives ``(B, g, g, L)`` latents for ``(B, S, S)`` images."""

    def __init__(self, cfg: ModelConfig, commitment: float = 0.25, kl_weight: float = 5e-4) -> None:
        super().__init__()
        self.config = cfg
        h, latent = cfg.hidden, cfg.latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, h // 2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(h // 2, h, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(h, latent, 1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(latent, h, 1), nn.ReLU(),
            nn.ConvTranspose2d(h, h // 2, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(h // 2, 1, 3, padding=1),
        )
        layers: dict[str, Any] = {
            "gmvq": lambda: GaussianMixtureVQ(cfg),
            "vqvae": lambda: StraightThroughVQ(cfg, commitment),
            "vqvae-ema": lambda: EMAVectorQuantizer(cfg, commitment),
            "gumbel": lambda: GumbelVQ(cfg, kl_weight),
        }
        self.quantizer = layers[cfg.method]()

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images[:, None]).permute(0, 2, 3, 1)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents.permute(0, 3, 1, 2))[:, 0]

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, g, g, C)`` code logits (GM-VQ: distance logits; VQ-VAE: negative squared distance)."""
        z = self.encode(images)
        return self.quantizer.logits(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1)

    def codebook(self) -> torch.Tensor:
        return self.quantizer.codebook_vectors()

    def reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic test-time path: ``(indices (B, g, g), reconstruction (B, S, S))``."""
        idx = self.logits(images).argmax(-1)
        return idx, self.decode(self.codebook()[idx])
