"""The dyadic quantile grid of VBQ (``specs/vbq.md`` §2).

Level ``n`` (0..R) holds the CDF values ξ = (2j+1) / 2^(n+1). All levels together are the
``K = 2^(R+1) - 1`` values ξ_k = (k+1) / 2^(R+1), k = 0..K-1, so a grid point is named by its
*sorted index* ``k`` and its level is ``R - tz(k+1)`` (tz: trailing zero bits). Index ``2^R - 1``
is the level-0 point ξ = 1/2, the prior median.
"""

from __future__ import annotations

import numpy as np

from codecframe.errors import ConfigError

__all__ = ["MAX_R", "check_r_max", "grid_size", "median_index", "levels", "xi"]

#: Largest supported R_max (2^(R+1) - 1 = 65535 points, the coders' alphabet limit).
MAX_R = 15


def check_r_max(r_max: object, where: str = "r_max") -> int:
    """``r_max`` as an int in 0..MAX_R, else ConfigError."""
    if isinstance(r_max, bool) or not isinstance(r_max, (int, np.integer)) or not 0 <= int(r_max) <= MAX_R:
        raise ConfigError(f"{where} must be an integer in 0..{MAX_R}, got {r_max!r}")
    return int(r_max)


def grid_size(r_max: int) -> int:
    """Number of grid points K = 2^(R+1) - 1."""
    return (1 << (r_max + 1)) - 1


def median_index(r_max: int) -> int:
    """Sorted index of the level-0 point ξ = 1/2."""
    return (1 << r_max) - 1


def levels(r_max: int) -> np.ndarray:
    """Level (raw code length in bits) of every sorted index, int64 (K,)."""
    m = np.arange(1, grid_size(r_max) + 1, dtype=np.int64)
    tz = np.zeros_like(m)
    while np.any(m % 2 == 0):
        even = m % 2 == 0
        tz[even] += 1
        m[even] //= 2
    return r_max - tz


def xi(r_max: int) -> np.ndarray:
    """CDF value of every sorted index, float64 (K,): (k+1) / 2^(R+1), exact."""
    return np.arange(1, grid_size(r_max) + 1, dtype=np.float64) / float(1 << (r_max + 1))
