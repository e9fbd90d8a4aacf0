"""Per-image crop sampling with augmentation for the second training (issue 17).

Each crop first draws an *image* (not a pixel area: retina alone was a third of the first
training's pixels), with weight 1 per colour photograph, :data:`GREY_WEIGHT` per gray one and
:data:`SYNTHETIC_WEIGHT` in all for :data:`SYNTHETIC_COUNT` dead-leaves images of side
:data:`SYNTHETIC_SIZE` (image j is ``dead_leaves(SYNTHETIC_SIZE, default_rng([SYNTHETIC_SEED, j]))``,
generated when first drawn and kept, so the draw has no state beyond the generator); then a square region of
side ``size``·s, s log-uniform in ``augmentation.scale`` (bounded by the image), resized to
``size`` (Pillow bicubic), then colour and geometric augmentation (:mod:`.augment`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image

from . import data
from .augment import Augmentation, augment
from .synthetic import dead_leaves

__all__ = ["CropSampler", "GREY_WEIGHT", "SYNTHETIC_WEIGHT", "SYNTHETIC", "SYNTHETIC_COUNT", "SYNTHETIC_SIZE",
           "SYNTHETIC_SEED", "synthetic_image"]

#: Sampling weight of a gray photograph relative to a colour one.
GREY_WEIGHT = 0.3
#: Total sampling weight of the synthetic dead-leaves images (as many as this many colour photographs).
SYNTHETIC_WEIGHT = 3.0
#: The name under which dead-leaves images take part in the draw.
SYNTHETIC = "dead_leaves"
#: Number, side and seed of the dead-leaves training images.
SYNTHETIC_COUNT, SYNTHETIC_SIZE, SYNTHETIC_SEED = 512, 192, 17


@functools.lru_cache(maxsize=SYNTHETIC_COUNT)
def synthetic_image(j: int) -> np.ndarray:
    """Dead-leaves training image ``j`` (uint8 RGB, read-only)."""
    img = dead_leaves(SYNTHETIC_SIZE, np.random.default_rng([SYNTHETIC_SEED, j]))
    img.setflags(write=False)
    return img


class CropSampler:
    """Draws augmented training crops float32 (count, 3, size, size) in [0, 1] from named images."""

    def __init__(self, names: Sequence[str], size: int, augmentation: Augmentation = Augmentation(),
                 synthetic_weight: float = SYNTHETIC_WEIGHT, min_std: float = 0.01,
                 images: Sequence[np.ndarray] | None = None) -> None:
        self.names = tuple(names) + ((SYNTHETIC,) if synthetic_weight > 0 else ())
        self.images = list(images) if images is not None else [data.load(n) for n in names]
        if len(self.images) != len(names):
            raise ValueError("one image per name")
        weights = [GREY_WEIGHT if n in data.GREY else 1.0 for n in names]
        weights += [synthetic_weight] if synthetic_weight > 0 else []
        self.probabilities = np.array(weights, np.float64) / sum(weights)
        self.size, self.augmentation, self.min_std = size, augmentation, min_std

    def draw(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """Index of the drawn image and one crop (size, size, 3) float32, before the flat-crop check."""
        k = int(rng.choice(len(self.names), p=self.probabilities))
        img = synthetic_image(int(rng.integers(SYNTHETIC_COUNT))) if k == len(self.images) else self.images[k]
        crop = self._cut(img, rng)
        return k, augment(crop, self.augmentation, rng)

    def _cut(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = self.augmentation.scale
        side = int(round(self.size * float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))) if hi > lo else \
            int(round(self.size * lo))
        side = max(1, min(side, img.shape[0], img.shape[1]))
        y = int(rng.integers(0, img.shape[0] - side + 1))
        x = int(rng.integers(0, img.shape[1] - side + 1))
        region = img[y:y + side, x:x + side]
        if side != self.size:
            region = np.asarray(Image.fromarray(region).resize((self.size, self.size), Image.Resampling.BICUBIC))
        return region.astype(np.float32) / 255.0

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` crops (count, 3, size, size); flat crops (std below ``min_std``, e.g. black borders) are redrawn."""
        out = np.empty((count, 3, self.size, self.size), np.float32)
        i = 0
        while i < count:
            _, crop = self.draw(rng)
            if crop.std() < self.min_std:
                continue
            out[i] = crop.transpose(2, 0, 1)
            i += 1
        return out
