"""Bundled training data: scikit-learn digits and 8×8 patches of scikit-image photographs.

Every dataset is a float32 array ``(N, 8, 8)`` in [0, 1] with a fixed, seeded train/test split,
so that every method of the benchmark sees the same images.
"""

from __future__ import annotations

import numpy as np

from codecframe.errors import ConfigError

__all__ = ["DATASETS", "load", "digits", "photo_patches", "image_to_gray", "mixed", "PATCH"]

PATCH = 8
#: Photographs used for training patches; ``camera`` and ``astronaut`` are held out for testing.
TRAIN_PHOTOS = ("coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "brick", "grass", "gravel")
TEST_PHOTOS = ("camera", "astronaut")


def image_to_gray(image: np.ndarray) -> np.ndarray:
    """A uint8 gray or RGB(A) image as float32 gray in [0, 1] (ITU-R 601 luma weights)."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return (np.asarray(img, np.float64) / 255.0).astype(np.float32)


def digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 handwritten digits (8×8, 0..16 scaled to [0, 1]); 1400 train / 397 test."""
    from sklearn.datasets import load_digits

    images = (load_digits().images / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(images))
    return images[order[:1400]], images[order[1400:]]


def _patches(names: tuple[str, ...]) -> np.ndarray:
    import skimage.data

    out = []
    for name in names:
        img = image_to_gray(getattr(skimage.data, name)())
        h, w = (s - s % PATCH for s in img.shape)
        tiles = img[:h, :w].reshape(h // PATCH, PATCH, w // PATCH, PATCH).swapaxes(1, 2)
        out.append(tiles.reshape(-1, PATCH, PATCH))
    return np.concatenate(out)


def photo_patches(seed: int = 0, train_size: int = 20000, test_size: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping 8×8 gray patches: train from eight photographs, test from two held-out ones."""
    rng = np.random.default_rng(seed)
    train, test = _patches(TRAIN_PHOTOS), _patches(TEST_PHOTOS)
    return (
        train[rng.choice(len(train), min(train_size, len(train)), replace=False)],
        test[rng.choice(len(test), min(test_size, len(test)), replace=False)],
    )


def mixed(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Digits plus photo patches (train 1400 + 20000, test 397 + 4000), shuffled with ``seed``."""
    dtr, dte = digits(seed)
    ptr, pte = photo_patches(seed)
    rng = np.random.default_rng(seed + 1)
    train, test = np.concatenate([dtr, ptr]), np.concatenate([dte, pte])
    return train[rng.permutation(len(train))], test[rng.permutation(len(test))]


DATASETS = {"digits": digits, "photos": photo_patches, "mixed": mixed}


def load(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` of the named dataset; ConfigError for an unknown name."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](seed)
