"""Decoder fine-tuning on VBQ-quantized latents (``resumable --tune-decoder TABLES``; issue 17).

The VAE's decoder was trained on samples z ~ q(z | x), but VBQ hands it ẑ: at 0.15–0.6 bpp most
latents sit on a coarse grid point or on the prior's median. This stage keeps the encoder, and with
it every posterior, the tables' histograms and the bits of every file, and trains only the decoder
to reconstruct the image from what VBQ transmits: each training crop's posterior is quantized by the
tables' own VBQ search at a λ drawn log-uniformly from ``lambda_range`` (one model for all rates),
and the loss is the likelihood's distortion term ‖x − g(ẑ)‖² / (2 σ_x²) per pixel. The VBQ search
is not differentiated; only the decoder's parameters receive gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from codecframe.builtins.gaussian import GaussianPosterior

from ..quantizer import VBQQuantizer
from . import data
from .heldout import posterior, psnr
from .vae import ImageVAE

__all__ = ["quantized_latents", "decoder_loss", "vbq_validation_psnr", "VALIDATION_LAMBDAS"]

#: λ at which :func:`vbq_validation_psnr` decodes the validation images (about 0.3–0.8 bpp on them).
VALIDATION_LAMBDAS = (0.5, 2.0, 8.0)


def quantized_latents(quantizer: VBQQuantizer, mean: np.ndarray, std: np.ndarray, rng: np.random.Generator,
                      lambda_range: tuple[float, float]) -> np.ndarray:
    """ẑ (N, C, h, w) float32 of a batch of posteriors, each quantized at its own λ drawn log-uniformly
    from ``lambda_range``."""
    lo, hi = np.log2(lambda_range[0]), np.log2(lambda_range[1])
    out = np.empty(mean.shape, np.float32)
    for i in range(mean.shape[0]):
        lam = float(np.exp2(rng.uniform(lo, hi)))
        q = quantizer.quantize(GaussianPosterior(mean=mean[i], std=std[i]), {"lambda": lam})
        out[i] = quantizer.dequantize(q)
    return out


def decoder_loss(model: ImageVAE, quantizer: VBQQuantizer, x: torch.Tensor, rng: np.random.Generator,
                 lambda_range: tuple[float, float]) -> tuple[torch.Tensor, dict[str, float]]:
    """Distortion of g(ẑ) per pixel for the batch ``x`` (N, 3, H, W), and its MSE."""
    with torch.no_grad():
        mean, std = model.encode(x)
    z = quantized_latents(quantizer, mean.numpy(), std.numpy(), rng, lambda_range)
    x_hat = model.decode(torch.from_numpy(z))
    pixels = x.shape[0] * x.shape[2] * x.shape[3]
    loss = ((x - x_hat) ** 2).sum() / (2 * model.config.likelihood_variance) / pixels
    return loss, {"mse": float(((x - x_hat) ** 2).mean().detach())}


def vbq_validation_psnr(model: ImageVAE, quantizer: VBQQuantizer, names: Sequence[str] = data.VALIDATION_V2,
                        lambdas: Sequence[float] = VALIDATION_LAMBDAS) -> dict[str, dict[str, float]]:
    """PSNR of each validation image decoded from its VBQ latents at each λ (keys ``"λ"``), and the mean."""
    rows: dict[str, dict[str, float]] = {}
    for lam in lambdas:
        row = {}
        for name in names:
            image = data.load(name)
            mean, std = posterior(model, image)
            z = quantizer.dequantize(quantizer.quantize(GaussianPosterior(mean=mean, std=std), {"lambda": lam}))
            with torch.no_grad():
                out = model.decode(torch.from_numpy(z[None].astype(np.float32)))[0].numpy().transpose(1, 2, 0)
            out = np.round(np.clip(out[:image.shape[0], :image.shape[1]], 0.0, 1.0) * 255).astype(np.uint8)
            row[name] = psnr(image, out)
        row["mean"] = float(np.mean(list(row.values())))
        rows[f"{lam:g}"] = row
    return rows
