"""Seeded training of every method on CPU, with k-means codebook initialisation and an annealed τ."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from codecframe.errors import ConfigError, InputError

from .losses import ENTROPY_MODES, albo_loss
from .model import Autoencoder, GaussianMixtureVQ, GumbelVQ, ModelConfig

__all__ = ["TrainConfig", "TrainResult", "kmeans_codebook", "tau_at", "train", "code_usage", "check_images", "check_pixels"]

#: ``progress(step, steps, stats)``, called every ``log_every`` steps.
TrainProgress = Callable[[int, int, dict[str, float]], None]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (JSON-only; stored in every checkpoint). Defaults are the shipped ones."""

    steps: int = 5000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    #: GM-VQ: weight β of the entropy term (β = 1: GM-VQ; β > 1: "GM-VQ + entropy").
    beta: float = 1.0
    #: GM-VQ: weight γ of the latent term E_q ||ẑ - μ_c||².
    gamma: float = 0.25
    #: GM-VQ: fixed variance σ_x² of p(x|z); sets the weight of the latent and entropy terms.
    sigma_x2: float = 0.01
    #: GM-VQ: which entropy the objective rewards (see :mod:`codecframe_gmvq.losses`).
    entropy: str = "aggregated"
    #: GM-VQ: σ_n² of the adaptive noise s²(x) = ||ẑ - μ_ĉ||² / (2σ_n²L) injected before the decoder
    #: (None: no noise injection).
    noise_sigma2: float | None = 1.0
    #: GM-VQ / Gumbel-VQ: τ anneals exponentially from tau_start to tau_end over the training steps.
    tau_start: float = 1.0
    tau_end: float = 0.1
    #: GM-VQ / Gumbel-VQ: straight-through hard samples (else soft relaxed samples).
    hard: bool = False
    #: VQ-VAE baselines: commitment weight.
    commitment: float = 0.25
    #: Gumbel-VQ: weight of KL(q(c|x) || uniform).
    kl_weight: float = 5e-4
    #: GM-VQ: images whose encoder outputs k-means initialises the codebook from.
    kmeans_images: int = 1024
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.entropy not in ENTROPY_MODES:
            raise ConfigError(f"gmvq training: entropy must be one of {', '.join(ENTROPY_MODES)}, got {self.entropy!r}")
        if self.steps < 1 or self.batch_size < 1 or self.log_every < 1 or self.kmeans_images < 1:
            raise ConfigError("gmvq training: steps, batch_size, log_every and kmeans_images must be >= 1")
        if not (0 < self.tau_end <= self.tau_start) or not self.lr > 0 or not self.sigma_x2 > 0:
            raise ConfigError("gmvq training: need 0 < tau_end <= tau_start, lr > 0 and sigma_x2 > 0")
        if self.noise_sigma2 is not None and not self.noise_sigma2 > 0:
            raise ConfigError(f"gmvq training: noise_sigma2 must be > 0 or null, got {self.noise_sigma2}")


@dataclasses.dataclass
class TrainResult:
    """A trained model, its loss curve ``[(step, loss, mse), ...]`` and the training wall time."""

    model: Autoencoder
    history: list[tuple[int, float, float]]
    seconds: float


def tau_at(cfg: TrainConfig, step: int) -> float:
    """Gumbel temperature at ``step``: tau_start·(tau_end/tau_start)^(step/steps)."""
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** (step / cfg.steps)


def kmeans_codebook(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means++ then Lloyd (scikit-learn, one thread); empty clusters are re-seeded by scikit-learn."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    if len(vectors) < k:
        raise InputError(f"k-means needs at least {k} vectors for {k} codes, got {len(vectors)}")
    with threadpool_limits(1):
        km = KMeans(n_clusters=k, n_init=1, max_iter=50, random_state=seed).fit(np.asarray(vectors, np.float64))
    return km.cluster_centers_.astype(np.float32)


def check_images(images: np.ndarray, size: int) -> np.ndarray:
    """``(N, size, size)`` float32 images in [0, 1]; InputError naming what is wrong otherwise."""
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (size, size):
        channels = f" ({arr.shape[-1]} channels? the tokenizer takes 1-channel gray images)" if arr.ndim == 4 else ""
        raise InputError(f"images must have shape (N, {size}, {size}) or (N, 1, {size}, {size}), got {arr.shape}{channels}")
    return check_pixels(arr)


def check_pixels(arr: np.ndarray) -> np.ndarray:
    """Pixel values as float32, which must be finite and in [0, 1]; InputError otherwise."""
    if arr.dtype.kind not in "fiu":
        raise InputError(f"images must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)) or arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise InputError("image values must be finite and in [0, 1] (scale 8-bit images by 1/255)")
    return arr


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    images: np.ndarray,
    progress: TrainProgress | None = None,
) -> TrainResult:
    """Train one model from a fixed seed; the same seed, data and thread count give the same curve."""
    images = check_images(images, model_cfg.image_size)
    if len(images) < train_cfg.batch_size:
        raise InputError(f"training needs at least batch_size={train_cfg.batch_size} images, got {len(images)}")
    torch.manual_seed(train_cfg.seed)
    rng = np.random.default_rng(train_cfg.seed)
    model = Autoencoder(model_cfg, commitment=train_cfg.commitment, kl_weight=train_cfg.kl_weight)
    data = torch.from_numpy(images)
    t0 = time.perf_counter()
    if isinstance(model.quantizer, GaussianMixtureVQ):
        pick = rng.choice(len(images), min(train_cfg.kmeans_images, len(images)), replace=False)
        with torch.no_grad():
            z = model.encode(data[np.sort(pick)]).reshape(-1, model_cfg.latent_dim).numpy()
        centers = kmeans_codebook(z, model_cfg.codebook_size, train_cfg.seed)
        model.quantizer.codebook.data.copy_(torch.from_numpy(centers))
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    history: list[tuple[int, float, float]] = []
    order = rng.permutation(len(images))
    cursor = 0
    model.train()
    for step in range(1, train_cfg.steps + 1):
        if cursor + train_cfg.batch_size > len(order):
            order, cursor = rng.permutation(len(images)), 0
        x = data[order[cursor: cursor + train_cfg.batch_size]]
        cursor += train_cfg.batch_size
        z = model.encode(x)
        flat = z.reshape(-1, z.shape[-1])
        tau = tau_at(train_cfg, step - 1)
        q = model.quantizer
        if isinstance(q, GaussianMixtureVQ):
            out, parts = q(flat, tau, train_cfg.hard, train_cfg.noise_sigma2)
            mse = F.mse_loss(model.decode(out.z.reshape(z.shape)), x)
            scale = 2.0 * train_cfg.sigma_x2 * flat.shape[0] / x.numel()
            loss = albo_loss(mse, parts, train_cfg.beta, train_cfg.gamma, train_cfg.entropy, scale)
        else:
            out = q(flat, tau, train_cfg.hard) if isinstance(q, GumbelVQ) else q(flat)
            mse = F.mse_loss(model.decode(out.z.reshape(z.shape)), x)
            loss = mse + out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_value, mse_value = loss.item(), mse.item()
        if not math.isfinite(loss_value):
            raise InputError(f"training diverged at step {step} (loss {loss_value}); lower lr or change sigma2")
        if step % train_cfg.log_every == 0 or step == train_cfg.steps:
            history.append((step, loss_value, mse_value))
            if progress:
                progress(step, train_cfg.steps, {"loss": loss_value, "mse": mse_value, "tau": tau, **out.stats})
    model.eval()
    return TrainResult(model, history, time.perf_counter() - t0)


@torch.no_grad()
def code_usage(model: Autoencoder, images: np.ndarray, batch: int = 4096) -> np.ndarray:
    """int64 ``(C,)`` counts of deterministic (argmax) code assignments over ``images``."""
    images = check_images(images, model.config.image_size)
    counts = np.zeros(model.config.codebook_size, np.int64)
    for i in range(0, len(images), batch):
        idx = model.logits(torch.from_numpy(images[i: i + batch])).argmax(-1)
        counts += np.bincount(idx.reshape(-1).numpy(), minlength=len(counts))
    return counts
