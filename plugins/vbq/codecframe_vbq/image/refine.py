"""Encoder-side refinement of the VAE posterior of one image (``--refine N``; imports torch).

Iterative inference as in Yang, Bamler & Mandt, "Improving Inference for Neural Image Compression"
(NeurIPS 2020), first part: the amortized encoder's (μ, σ) start ``steps`` Adam steps on this
image's own negative ELBO, E_q ‖x − g(z)‖² / (2 σ_x²) + KL(q ‖ N(0, I)) with one reparameterized
sample per step (pixels of the image only, not its edge padding), which closes part of the
amortization gap. The decoder, the tables and the format are unchanged: only the posterior handed
to VBQ differs. Seeded (``seed``); deterministic for a given torch build and thread count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import InputError

if TYPE_CHECKING:
    from .vae import ImageVAE

__all__ = ["refine_posterior", "MAX_STEPS"]

#: Most refinement steps accepted.
MAX_STEPS = 10_000


def refine_posterior(model: ImageVAE, image: np.ndarray, post: GaussianPosterior, steps: int,
                     lr: float = 0.01, seed: int = 0) -> GaussianPosterior:
    """``post`` (the posterior of uint8 RGB ``image`` (H, W, 3), C × ⌈H/s⌉ × ⌈W/s⌉ for the VAE's stride
    s) after ``steps`` Adam steps at learning rate ``lr`` on the image's negative ELBO under the torch
    ``model``."""
    import torch

    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= MAX_STEPS:
        raise InputError(f"--refine must be an integer in 0..{MAX_STEPS}, got {steps!r}")
    if steps == 0:
        return post
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))[None].astype(np.float32) / np.float32(255.0))
    mu = torch.tensor(np.asarray(post.mean, np.float32)[None], requires_grad=True)
    log_sd = torch.tensor(np.log(np.asarray(post.std, np.float32))[None], requires_grad=True)
    opt = torch.optim.Adam([mu, log_sd], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    scale = 0.5 / model.config.likelihood_variance
    frozen = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        for _ in range(steps):
            sd = log_sd.exp()
            z = mu + sd * torch.randn(mu.shape, generator=gen)
            x_hat = model.decode(z)[:, :, :h, :w]
            loss = scale * ((x - x_hat) ** 2).sum() + 0.5 * (mu**2 + sd**2 - 1.0 - 2.0 * log_sd).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad_(flag)
    return GaussianPosterior(mean=mu.detach()[0].numpy().astype(np.float32),
                             std=log_sd.detach()[0].exp().numpy().astype(np.float32))
