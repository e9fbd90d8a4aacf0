"""Colour and geometric augmentation of training crops (issue 17: the training colours must cover every hue).

Colour: the chroma plane of YCbCr (BT.601, full range) is rotated by a uniform random angle (a hue
rotation that keeps luma) and scaled by e^u, u uniform in ±``log_saturation`` (saturation
jitter); then the RGB channels are permuted at random. Geometry: flips in both directions and a
transpose, each with probability ½; scale jitter is applied by :mod:`.sampler` when it cuts a crop.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

__all__ = ["Augmentation", "NONE", "PERMUTATIONS", "rgb_to_ycbcr", "ycbcr_to_rgb", "recolour", "augment"]

PERMUTATIONS = np.array(list(itertools.permutations(range(3))))
# BT.601 full range: Y = 0.299 R + 0.587 G + 0.114 B; Cb, Cr centred at 0 for floats in [0, 1].
_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_FROM_YCC = np.linalg.inv(_TO_YCC)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """What to randomise: ``hue`` (rotate chroma by a uniform angle in [0, 2π)), ``log_saturation``
    (chroma scaled by e^u, |u| ≤ this), ``permute`` (random channel order), ``flips`` (both
    directions), ``transpose``, ``scale`` (the range of region side / crop side that :mod:`.sampler`
    cuts and resizes; (1, 1) turns it off)."""

    hue: bool = True
    log_saturation: float = 0.4
    permute: bool = True
    flips: bool = True
    transpose: bool = True
    scale: tuple[float, float] = (0.75, 2.0)


#: No augmentation at all.
NONE = Augmentation(False, 0.0, False, False, False, (1.0, 1.0))


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """YCbCr (..., 3) of float RGB (..., 3) in [0, 1]: Y in [0, 1], Cb and Cr in [-½, ½]."""
    return rgb @ _TO_YCC.T


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_ycbcr` (not clipped)."""
    return ycc @ _FROM_YCC.T


def recolour(rgb: np.ndarray, angle: float, saturation: float, permutation: np.ndarray) -> np.ndarray:
    """``rgb`` (H, W, 3) float in [0, 1] with chroma rotated by ``angle`` (radians) and scaled by
    ``saturation``, clipped to [0, 1], channels reordered by ``permutation``; float32."""
    ycc = rgb_to_ycbcr(rgb.astype(np.float64))
    c, s = np.cos(angle) * saturation, np.sin(angle) * saturation
    cb, cr = ycc[..., 1].copy(), ycc[..., 2].copy()
    ycc[..., 1], ycc[..., 2] = c * cb - s * cr, s * cb + c * cr
    out = np.clip(ycbcr_to_rgb(ycc), 0.0, 1.0)[..., permutation]
    return out.astype(np.float32)


def augment(crop: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """A randomly augmented copy of ``crop`` (H, W, 3) float in [0, 1] (H = W if ``aug.transpose``), float32."""
    out = crop
    if aug.hue or aug.log_saturation or aug.permute:
        angle = rng.uniform(0.0, 2 * np.pi) if aug.hue else 0.0
        sat = float(np.exp(rng.uniform(-aug.log_saturation, aug.log_saturation))) if aug.log_saturation else 1.0
        perm = PERMUTATIONS[rng.integers(len(PERMUTATIONS))] if aug.permute else PERMUTATIONS[0]
        out = recolour(out, angle, sat, perm)
    if aug.flips:
        if rng.random() < 0.5:
            out = out[:, ::-1]
        if rng.random() < 0.5:
            out = out[::-1]
    if aug.transpose and rng.random() < 0.5:
        out = out.transpose(1, 0, 2)
    return np.ascontiguousarray(out, np.float32)
