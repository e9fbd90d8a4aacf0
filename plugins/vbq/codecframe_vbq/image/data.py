"""The images of the image codec and its splits: photographs bundled with scikit-image, the
photographs shipped in ``photos/`` (from Debian's mate-backgrounds, GPL-2+, see ``docs/vbq.md``)
and two synthetic colour tests.

Whole images are held out: the test images are never used for training or for fitting tables,
and the validation images only for choices made during development (architecture, smoothing).
Gray photographs are used for training as RGB with three equal channels.

Two splits: the first (``TRAIN``/``VALIDATION``/``TEST``, also named ``*_V1``), on which the
shipped model of issue 4 was trained and is evaluated, and the colour-diverse second one
(``TRAIN_V2``/``VALIDATION_V2``/``HELDOUT``) of issue 17.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TRAIN", "VALIDATION", "TEST", "TRAIN_V1", "VALIDATION_V1", "TEST_V1", "TRAIN_V2", "VALIDATION_V2",
           "HELDOUT", "HELDOUT_PHOTOS", "HELDOUT_SYNTHETIC", "GREY", "SHIPPED_PHOTOS", "load", "load_split",
           "random_crops"]

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
TRAIN_V1, VALIDATION_V1, TEST_V1 = TRAIN, VALIDATION, TEST

#: Photographs shipped in ``photos/`` (downscaled from Debian's mate-backgrounds 1.26.0, GPL-2+):
#: name → file. The held-out and validation ones are lossless PNG, the training ones JPEG.
SHIPPED_PHOTOS: dict[str, str] = {
    "green-meadow": "green-meadow.png", "storm": "storm.png", "aqua": "aqua.png", "rain-drops": "rain-drops.png",
    "blinds": "blinds.jpg", "dune": "dune.jpg", "fresh-flower": "fresh-flower.jpg", "garden": "garden.jpg",
    "lady-bird": "lady-bird.jpg", "two-wings": "two-wings.jpg", "wood": "wood.jpg", "yellow-flower": "yellow-flower.jpg",
}
#: Gray photographs (sampled less often for training, :mod:`.sampler`).
GREY: frozenset[str] = frozenset({"camera", "moon", "coins", "clock", "page", "text", "brick", "grass", "gravel",
                                   "cell"})
#: Training photographs of the second split: every bundled skimage photograph not held out, and
#: eight shipped ones (plus synthetic dead-leaves images, :mod:`.synthetic`).
TRAIN_V2: tuple[str, ...] = TRAIN + ("blinds", "dune", "fresh-flower", "garden", "lady-bird", "two-wings", "wood",
                                     "yellow-flower")
#: Validation photographs of the second split (choices only): red-dominated and green-dominated.
VALIDATION_V2: tuple[str, ...] = ("motorcycle_right", "rain-drops")
#: Held-out photographs of the second split, never trained on and never used for choices: three
#: red/orange-dominated (skimage), one green (green-meadow), one blue (storm), one teal/blue (aqua).
HELDOUT_PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "green-meadow", "storm", "aqua")
#: Held-out colour tests: skimage's colour wheel and a synthetic 360° hue sweep (:func:`.synthetic.hue_sweep`).
HELDOUT_SYNTHETIC: tuple[str, ...] = ("colorwheel", "hue_sweep")
HELDOUT: tuple[str, ...] = HELDOUT_PHOTOS + HELDOUT_SYNTHETIC


def load(name: str) -> np.ndarray:
    """Image ``name`` as uint8 RGB (H, W, 3)."""
    from skimage import data

    if name in SHIPPED_PHOTOS:
        from importlib.resources import files

        from PIL import Image

        with Image.open(files(__package__).joinpath("photos", SHIPPED_PHOTOS[name])) as im:
            return np.ascontiguousarray(np.asarray(im.convert("RGB"), np.uint8))
    if name == "hue_sweep":
        from .synthetic import hue_sweep

        return hue_sweep()
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
