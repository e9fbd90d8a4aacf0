"""Images bundled with scikit-image: the training / validation / test split of the image codec.

Whole images are held out: the test images are never used for training or for fitting tables,
and the validation image only for choices made during development (architecture, smoothing).
Gray photographs are used for training as RGB with three equal channels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRAIN", "VALIDATION", "TEST", "load", "load_split", "random_crops"]

#: Photographs used for training the VAE and fitting the tables.
TRAIN: tuple[str, ...] = (
    "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "motorcycle_left",
    "camera", "moon", "coins", "clock", "page", "text", "brick", "grass", "gravel", "cell",
)
#: Held out for development choices (the right view of the stereo pair).
VALIDATION: tuple[str, ...] = ("motorcycle_right",)
#: Held out for evaluation; every one is at least 256×256. (``cat`` is the same photo as
#: ``chelsea`` and is used nowhere.)
TEST: tuple[str, ...] = ("astronaut", "coffee", "chelsea")


def load(name: str) -> np.ndarray:
    """Image ``name`` as uint8 RGB (H, W, 3)."""
    from skimage import data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        img = left if name == "motorcycle_left" else right
    else:
        img = getattr(data, name)()
    img = np.asarray(img)
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def load_split(names: tuple[str, ...]) -> list[np.ndarray]:
    """The images of a split, uint8 RGB."""
    return [load(n) for n in names]


def random_crops(images: list[np.ndarray], size: int, count: int, rng: np.random.Generator,
                 min_std: float = 0.01) -> np.ndarray:
    """``count`` random ``size``² crops, float32 (count, 3, size, size) in [0, 1], randomly flipped.

    Images are drawn in proportion to their area; flat crops (pixel std below ``min_std``, e.g.
    the black borders of retina and hubble_deep_field) are redrawn.
    """
    areas = np.array([img.shape[0] * img.shape[1] for img in images], np.float64)
    out = np.empty((count, 3, size, size), np.float32)
    i = 0
    while i < count:
        img = images[rng.choice(len(images), p=areas / areas.sum())]
        y = rng.integers(0, img.shape[0] - size + 1)
        x = rng.integers(0, img.shape[1] - size + 1)
        crop = img[y:y + size, x:x + size].astype(np.float32) / 255.0
        if crop.std() < min_std:
            continue
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1)
        i += 1
    return out
