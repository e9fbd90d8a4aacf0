"""The plugin's asset files (entry point ``codecframe.assets``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSET_DIR", "asset_paths"]

ASSET_DIR = Path(__file__).parent / "assets"


def asset_paths() -> list[Path]:
    """Every shipped asset: the image VAE weights and its VBQ tables (calibrated σ and raw σ)."""
    return sorted(ASSET_DIR.glob("*.safetensors"))
