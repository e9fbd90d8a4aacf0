"""The image VAE's architecture, shared by the torch model (training) and the numpy network (the codec)."""

from __future__ import annotations

import dataclasses

__all__ = ["VAEConfig", "DOWNSAMPLING", "UPSAMPLING", "Layer", "layers"]

#: Images are padded to a multiple of this (the largest total stride, :attr:`VAEConfig.stride`).
DOWNSAMPLING = 16
#: Decoder layer kinds (stride s, kernel k): transposed convolution; convolution with kernel ⌈k/s⌉
#: (made odd) to s² × channels, then pixel shuffle (sub-pixel convolution, Shi et al. 2016); nearest-
#: neighbour resize by s, then a 3×3 convolution (Odena et al. 2016).
UPSAMPLING = ("transposed", "pixelshuffle", "resize")
#: Fields added after weights were first shipped: written only when they differ from their default,
#: so that files of earlier configurations stay byte-identical.
_LATER_FIELDS = ("stride", "upsampling")


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """Architecture: ``layers`` 3 (9×9/4, 5×5/2, 5×5/2) or 4 (5×5/2 four times) convolutions with
    ``hidden`` filters, ``latent`` channels, ``nonlinearity`` "gdn" or "relu";
    ``init_log_std``: initial bias of log σ (a small initial σ lets the decoder learn from the start);
    ``stride`` 16 or 8 (total downsampling; 8 makes the last encoder and first decoder layer stride 1,
    3-layer layout only); ``upsampling`` one of :data:`UPSAMPLING` (the codec's numpy network runs
    either stride, with transposed convolutions only)."""

    hidden: int = 64
    latent: int = 32
    nonlinearity: str = "relu"
    likelihood_variance: float = 0.001
    init_log_std: float = -3.0
    layers: int = 3
    stride: int = 16
    upsampling: str = "transposed"

    def to_dict(self) -> dict:
        """The fields as a dict, without later fields at their defaults (see ``_LATER_FIELDS``)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _LATER_FIELDS or v != defaults[k]}


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
    if config.upsampling not in UPSAMPLING:
        raise ValueError(f"unknown upsampling {config.upsampling!r}, expected one of {UPSAMPLING}")
    if config.stride not in (8, 16) or (config.stride == 8 and config.layers != 3):
        raise ValueError(f"stride must be 16, or 8 with 3 layers; got {config.stride} with {config.layers}")
    if config.layers == 3:  # Ballé et al. 2017 / the VBQ paper: 9×9 stride 4, then two 5×5 stride 2
        last = config.stride // 8
        enc, dec = [(3, h, 9, 4), (h, h, 5, 2), (h, 2 * c, 5, last)], [(c, h, 5, last), (h, h, 5, 2), (h, 3, 9, 4)]
    elif config.layers == 4:  # four 5×5 stride-2 layers
        enc = [(3, h, 5, 2), (h, h, 5, 2), (h, h, 5, 2), (h, 2 * c, 5, 2)]
        dec = [(c, h, 5, 2), (h, h, 5, 2), (h, h, 5, 2), (h, 3, 5, 2)]
    else:
        raise ValueError(f"layers must be 3 or 4, got {config.layers}")
    return [Layer(*spec) for spec in enc], [Layer(*spec) for spec in dec]
