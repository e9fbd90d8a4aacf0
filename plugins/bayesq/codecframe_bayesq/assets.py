"""Files this plugin ships (``codecframe.assets``): the example models' weights (safetensors)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSET_DIR", "asset_paths"]

ASSET_DIR = Path(__file__).resolve().parent / "assets"


def asset_paths() -> list[Path]:
    """Every shipped asset file."""
    return sorted(ASSET_DIR.glob("*.safetensors"))
