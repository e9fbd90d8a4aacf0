"""The image VAE in torch, for training (``docs/vbq.md``); the codec runs :mod:`.network` instead.

Encoder: the strided convolutions of :func:`.architecture.layers` (each but the last followed by
the nonlinearity) giving μ and log σ² of C latent channels at 1/s resolution (s = ``config.stride``,
16 or 8). Decoder: the mirror image with transposed convolutions (or the other
:data:`.architecture.UPSAMPLING` kinds). Prior N(0, I); likelihood N(x; g(z), σ_x² I) on pixels in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .architecture import DOWNSAMPLING, Layer, VAEConfig, layers

__all__ = ["VAEConfig", "GDN", "ImageVAE", "DOWNSAMPLING"]


class GDN(nn.Module):
    """Generalized divisive normalization (Ballé et al. 2016): y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²).

    ``inverse`` gives IGDN (multiply instead of divide). β and γ are kept non-negative by squaring
    their parameters (β has a floor of 1e-6); γ starts at 0.1·I + 0.001 so that every entry learns.
    """

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(torch.sqrt(0.1 * torch.eye(channels) + 0.001))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta**2 + 1e-6
        gamma = self.gamma**2
        norm = nn.functional.conv2d(x * x, gamma[:, :, None, None], beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def _act(kind: str, channels: int, inverse: bool) -> nn.Module:
    return GDN(channels, inverse) if kind == "gdn" else nn.ReLU()


def _upsample(lay: Layer, kind: str) -> nn.Module:
    """A decoder layer that scales the image size by ``lay.stride`` (see :data:`.architecture.UPSAMPLING`)."""
    k, s = lay.kernel, lay.stride
    if kind == "transposed":
        return nn.ConvTranspose2d(lay.cin, lay.cout, k, s, k // 2, s - 1)
    if s == 1:
        return nn.Conv2d(lay.cin, lay.cout, k, 1, k // 2)
    if kind == "pixelshuffle":  # kernel ⌈k/s⌉ (odd): the receptive field of the transposed convolution
        kk = -(-k // s) | 1
        return nn.Sequential(nn.Conv2d(lay.cin, lay.cout * s * s, kk, 1, kk // 2), nn.PixelShuffle(s))
    return nn.Sequential(nn.Upsample(scale_factor=s, mode="nearest"), nn.Conv2d(lay.cin, lay.cout, 3, 1, 1))


class ImageVAE(nn.Module):
    """Gaussian VAE for RGB images in [0, 1] (N, 3, H, W) with H, W multiples of 16."""

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        c, kind = config.latent, config.nonlinearity
        enc, dec = layers(config)
        encoder: list[nn.Module] = []
        for i, lay in enumerate(enc):
            encoder += [nn.Conv2d(lay.cin, lay.cout, lay.kernel, lay.stride, lay.kernel // 2)]
            encoder += [_act(kind, lay.cout, False)] if i < len(enc) - 1 else []
        decoder: list[nn.Module] = []
        for i, lay in enumerate(dec):
            decoder += [_upsample(lay, config.upsampling)]
            decoder += [_act(kind, lay.cout, True)] if i < len(dec) - 1 else []
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(*decoder)
        with torch.no_grad():
            self.encoder[-1].bias[c:] = 2.0 * config.init_log_std  # the log-variance half

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation, each (N, C, H/16, W/16)."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, torch.exp(0.5 * logvar.clamp(-30.0, 20.0))

    def encode_image(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """μ and σ (C, H/16, W/16) of a uint8 RGB image (H, W, 3) with sides multiple of 16.

        The training-side twin of the codec's numpy encoder (:mod:`.network`); the shipped tables
        were fitted on latents computed this way, so their build reproduces them byte for byte.
        """
        x = torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
        with torch.no_grad():
            mean, std = self.encode(x)
        return mean[0].numpy(), std[0].numpy()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Likelihood mean g(z) (not clipped)."""
        return self.decoder(z)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Negative ELBO per pixel (one reparameterized sample), plus its parts in bits per pixel."""
        mean, std = self.encode(x)
        z = mean + std * torch.randn_like(std)
        x_hat = self.decode(z)
        pixels = x.shape[0] * x.shape[2] * x.shape[3]
        distortion = ((x - x_hat) ** 2).sum() / (2 * self.config.likelihood_variance)
        kl = 0.5 * (mean**2 + std**2 - 1.0 - 2.0 * torch.log(std)).sum()
        loss = (distortion + kl) / pixels
        mse = float(((x - x_hat) ** 2).mean().detach())
        return loss, {"kl_bpp": float(kl.detach()) / pixels / 0.6931471805599453, "mse": mse}
