"""The shipped prior table (a content-addressed asset) and the ``codecframe.assets`` entry point.

``assets/laplace-k64.safetensors`` holds ``counts`` (int64, 129 entries) for the symbols -64..64:
``round(10^6 * 2^(-|k| / 2))``. Regenerate it with ``python -m codecframe_deadzone.prior``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load, save

from codecframe.assets import asset_ref, load_asset
from codecframe.errors import AssetError

PRIOR_PATH = Path(__file__).parent / "assets" / "laplace-k64.safetensors"
#: Largest symbol magnitude the shipped prior covers.
PRIOR_K = 64


def asset_paths() -> list[Path]:
    """Entry point of the ``codecframe.assets`` group: the files this distribution ships."""
    return [PRIOR_PATH]


def prior_ref() -> str:
    """``sha256:...`` of the shipped prior, as configs reference it."""
    return asset_ref(PRIOR_PATH)


def prior_counts(ref: str) -> np.ndarray:
    """The verified ``counts`` array of the prior asset ``ref``."""
    tensors = load(load_asset(ref))
    counts = tensors.get("counts")
    if counts is None or counts.dtype != np.int64 or counts.ndim != 1 or counts.size % 2 != 1 or np.any(counts < 0):
        raise AssetError(f"asset {ref} is not a dead-zone prior (needs an odd-length int64 'counts')")
    return counts


def make_prior() -> bytes:
    k = np.arange(-PRIOR_K, PRIOR_K + 1)
    counts = np.rint(1e6 * np.exp2(-np.abs(k) / 2.0)).astype(np.int64)
    return save({"counts": counts})


if __name__ == "__main__":
    PRIOR_PATH.parent.mkdir(exist_ok=True)
    PRIOR_PATH.write_bytes(make_prior())
    print(f"wrote {PRIOR_PATH}: {prior_ref()}")
