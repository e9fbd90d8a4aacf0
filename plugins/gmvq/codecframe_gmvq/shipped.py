"""The checkpoint this distribution ships (registered under ``codecframe.assets``)."""

from __future__ import annotations

import functools
from pathlib import Path

from codecframe.assets import asset_ref

__all__ = ["SHIPPED_CHECKPOINT", "asset_paths", "shipped_ref"]

#: GM-VQ + entropy, C = 256, L = 16, trained on digits + photo patches (docs/gmvq.md, "Shipped model").
SHIPPED_CHECKPOINT = Path(__file__).parent / "assets" / "gmvq-mixed8-c256.safetensors"


def asset_paths() -> list[Path]:
    """Entry point of ``codecframe.assets``: the files this plugin ships."""
    return [SHIPPED_CHECKPOINT]


@functools.lru_cache(maxsize=1)
def shipped_ref() -> str:
    """``sha256:`` reference of the shipped checkpoint."""
    return asset_ref(SHIPPED_CHECKPOINT)
