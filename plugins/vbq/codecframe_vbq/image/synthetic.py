"""Synthetic colour images: dead-leaves training images and the held-out 360° hue sweep."""

from __future__ import annotations

import numpy as np

__all__ = ["dead_leaves", "hue_sweep", "hsv_to_rgb", "HUE_BAND_DEGREES"]

#: Width in degrees of the hue bands in which the hue sweep is checked.
HUE_BAND_DEGREES = 30


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB (..., 3) in [0, 1] of hue ``h`` in [0, 1) (a full turn), saturation and value in [0, 1]."""
    h6 = (np.asarray(h, np.float64) % 1.0) * 6.0
    s, v = np.asarray(s, np.float64), np.asarray(v, np.float64)
    channel = []
    for n in (5.0, 3.0, 1.0):  # R, G, B: v - v·s·max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6
        k = (n + h6) % 6.0
        channel.append(v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return np.stack(np.broadcast_arrays(*channel), axis=-1)


def hue_sweep(height: int = 256, width: int = 768) -> np.ndarray:
    """The hue-sweep test image, uint8 RGB (height, width, 3): the hue runs through 360° from left
    to right (column x has hue 360°·(x + ½)/width), saturation falls from 1 to 0.4 from top to
    bottom and the value oscillates between 0.55 and 0.95 in smooth stripes 64 rows apart.
    With the default width, each 30° band is 64 columns (:data:`HUE_BAND_DEGREES`)."""
    x = (np.arange(width) + 0.5) / width
    y = np.arange(height)[:, None]
    sat = 1.0 - 0.6 * y / max(1, height - 1)
    val = 0.55 + 0.4 * (0.5 + 0.5 * np.cos(2 * np.pi * y / 64.0))
    rgb = hsv_to_rgb(x[None, :], np.broadcast_to(sat, (height, width)), np.broadcast_to(val, (height, width)))
    return np.round(rgb * 255).astype(np.uint8)


def dead_leaves(size: int, rng: np.random.Generator, r_min: float = 3.0, r_max: float | None = None,
                max_discs: int = 4000) -> np.ndarray:
    """A seeded dead-leaves image, uint8 RGB (size, size, 3).

    Opaque discs fall front to back (each paints only pixels no earlier disc covered) until the
    image is covered; radii have density ∝ r⁻³ on [r_min, r_max] (scale invariance, as in natural
    images), colours uniform in hue with random saturation and value, each disc carrying a slight
    linear shading. The result is lightly blurred by a random amount (σ 0-1 px) so edges are not all
    aliased step edges.
    """
    from scipy.ndimage import gaussian_filter

    r_max = size / 3.0 if r_max is None else r_max
    img = np.zeros((size, size, 3), np.float64)
    free = np.ones((size, size), bool)
    a, b = r_min**-2.0, r_max**-2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    drawn = 0
    while drawn < max_discs and free.any():
        n = min(256, max_discs - drawn)
        drawn += n
        u, cy, cx, hue, sat, val, gy, gx = rng.random((8, n))
        r = (a - u * (a - b)) ** -0.5
        cy, cx = cy * (size + 2 * r) - r, cx * (size + 2 * r) - r
        colours = hsv_to_rgb(hue, sat**0.7, 0.1 + 0.9 * val)
        for i in range(n):
            y0, y1 = max(0, int(cy[i] - r[i])), min(size, int(cy[i] + r[i]) + 2)
            x0, x1 = max(0, int(cx[i] - r[i])), min(size, int(cx[i] + r[i]) + 2)
            if y0 >= y1 or x0 >= x1:
                continue
            dy, dx = yy[y0:y1, x0:x1] - cy[i], xx[y0:y1, x0:x1] - cx[i]
            mask = (dy * dy + dx * dx <= r[i] * r[i]) & free[y0:y1, x0:x1]
            if not mask.any():
                continue
            shade = 1.0 + 0.15 * ((gy[i] - 0.5) * dy[mask] + (gx[i] - 0.5) * dx[mask]) / r[i]
            img[y0:y1, x0:x1][mask] = np.clip(colours[i][None, :] * shade[:, None], 0.0, 1.0)
            free[y0:y1, x0:x1][mask] = False
    sigma = rng.random()
    if sigma > 0.05:
        img = gaussian_filter(img, (sigma, sigma, 0))
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
