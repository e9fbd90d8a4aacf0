"""The image VAE's architecture, shared by the torch model (training) and the numpy network (the codec)."""

from __future__ import annotations

import dataclasses

__all__ = ["VAEConfig", "DOWNSAMPLING", "Layer", "layers"]

#: Total downsampling factor of the encoder (images are padded to a multiple of it).
DOWNSAMPLING = 16


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Architecture: ``layers`` 3 (9×9/4, 5×5/2, 5×5/2) or 4 (5×5/2 four times) convolutions with
    ``hidden`` filters, ``latent`` channels, ``nonlinearity`` "gdn" or "relu";
    ``init_log_std``: initial bias of log σ (a small initial σ lets the decoder learn from the start)."""

    hidden: int = 64
    latent: int = 32
    nonlinearity: str = "relu"
    likelihood_variance: float = 0.001
    init_log_std: float = -3.0
    layers: int = 3


@dataclasses.dataclass(frozen=True)
class Layer:
    """A convolution (encoder) or transposed convolution (decoder): channels in/out, kernel, stride.

    Padding is ``kernel // 2``; a transposed one adds ``stride - 1`` output rows and columns, so
    every layer scales the image size by exactly ``stride``.
    """

    cin: int
    cout: int
    kernel: int
    stride: int


def layers(config: VAEConfig) -> tuple[list[Layer], list[Layer]]:
    """Encoder and decoder layers of ``config``; a nonlinearity follows every layer but the last."""
    h, c = config.hidden, config.latent
    if config.nonlinearity not in ("gdn", "relu"):
        raise ValueError(f"unknown nonlinearity {config.nonlinearity!r}")
    if config.layers == 3:  # Ballé et al. 2017 / the VBQ paper: 9×9 stride 4, then two 5×5 stride 2
        enc, dec = [(3, h, 9, 4), (h, h, 5, 2), (h, 2 * c, 5, 2)], [(c, h, 5, 2), (h, h, 5, 2), (h, 3, 9, 4)]
    elif config.layers == 4:  # four 5×5 stride-2 layers
        enc = [(3, h, 5, 2), (h, h, 5, 2), (h, h, 5, 2), (h, 2 * c, 5, 2)]
        dec = [(c, h, 5, 2), (h, h, 5, 2), (h, h, 5, 2), (h, 3, 5, 2)]
    else:
        raise ValueError(f"layers must be 3 or 4, got {config.layers}")
    return [Layer(*spec) for spec in enc], [Layer(*spec) for spec in dec]
