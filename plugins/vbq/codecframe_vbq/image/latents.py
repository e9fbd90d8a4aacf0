"""Training latents for fitting VBQ tables on the same colour distribution the VAE was trained on.

Tables fitted on un-augmented latents put their grid span where the training photographs' colours
are and clamp the means of saturated colours outside it (issue 17). :func:`augmented_latents`
encodes every training image as it is and in ``copies`` recoloured versions (a uniform hue
rotation, saturation ×e^±0.4 and a random channel order, :func:`.augment.recolour`), alternately
transposed, plus ``synthetic`` dead-leaves images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from . import data
from .augment import PERMUTATIONS, Augmentation, recolour
from .sampler import synthetic_image
from .vae import DOWNSAMPLING, ImageVAE

__all__ = ["augmented_images", "augmented_latents"]


def augmented_images(names: Sequence[str] = data.TRAIN_V2, copies: int = 3, synthetic: int = 16, seed: int = 0,
                     augmentation: Augmentation = Augmentation()) -> Iterator[np.ndarray]:
    """The uint8 images behind :func:`augmented_latents`, cropped to multiples of 16: each training
    image as it is, then its ``copies`` recoloured versions; then the ``synthetic`` images likewise."""
    rng = np.random.default_rng(seed)
    images = [data.load(n) for n in names] + [np.asarray(synthetic_image(j)) for j in range(synthetic)]
    for img in images:
        h, w = img.shape[0] // DOWNSAMPLING * DOWNSAMPLING, img.shape[1] // DOWNSAMPLING * DOWNSAMPLING
        base = img[:h, :w].astype(np.float32) / 255.0
        yield np.ascontiguousarray(img[:h, :w])
        for i in range(copies):
            angle = rng.uniform(0.0, 2 * np.pi)
            sat = float(np.exp(rng.uniform(-augmentation.log_saturation, augmentation.log_saturation)))
            out = recolour(base, angle, sat, PERMUTATIONS[rng.integers(len(PERMUTATIONS))])
            out = out.transpose(1, 0, 2) if i % 2 else out
            yield np.ascontiguousarray(np.round(out * 255).astype(np.uint8))  # the codec sees 8-bit images


def augmented_latents(model: ImageVAE, names: Sequence[str] = data.TRAIN_V2, copies: int = 3, synthetic: int = 16,
                      seed: int = 0, augmentation: Augmentation = Augmentation()) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and stds (C, N), float64, of the training images and their recoloured copies."""
    means, stds = [], []
    for image in augmented_images(names, copies, synthetic, seed, augmentation):
        mean, std = model.encode_image(image)
        means.append(mean.reshape(mean.shape[0], -1))
        stds.append(std.reshape(std.shape[0], -1))
    return np.concatenate(means, axis=1).astype(np.float64), np.concatenate(stds, axis=1).astype(np.float64)
