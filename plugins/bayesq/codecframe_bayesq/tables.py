"""The shipped table of Lloyd–Max levels for N(0, 1) (Max 1960), one codebook per width 1..8 bits.

    python -m codecframe_bayesq.tables          # rewrites assets/lloyd_max_levels.safetensors

Levels are scaled to [-1, 1] and stored as float32 tensors ``bits1`` .. ``bits8``. The
``bayesq-lloyd`` quantizer with ``table="sha256:..."`` decodes with these levels (no codebook in
the side info), so a file is tied to this exact table by its hash.
"""

from __future__ import annotations

import json

import numpy as np

from codecframe.assets import asset_ref, load_asset
from codecframe.errors import AssetError

from .assets import ASSET_DIR
from .gaussian_error import lloyd_max_gaussian

__all__ = ["TABLE_FILE", "build_table", "table_levels", "shipped_table_ref"]

TABLE_FILE = ASSET_DIR / "lloyd_max_levels.safetensors"
_LOADED: dict[str, dict[int, np.ndarray]] = {}


def build_table() -> dict[str, np.ndarray]:
    """Tensors ``bits{b}``: the N(0, 1) Lloyd–Max levels of 2^b points, divided by the largest level."""
    out = {}
    for b in range(1, 9):
        levels, _ = lloyd_max_gaussian(1 << b, iterations=20000, tol=1e-14)
        out[f"bits{b}"] = (levels / levels[-1]).astype(np.float32)
    return out


def table_levels(ref: str) -> dict[int, np.ndarray]:
    """The level table of asset ``ref`` (verified by hash); AssetError if it is missing or malformed."""
    if ref not in _LOADED:
        from safetensors.numpy import load

        try:
            tensors = load(load_asset(ref))
        except AssetError:
            raise
        except Exception as exc:
            raise AssetError(f"asset {ref} is not a safetensors level table: {exc}") from None
        levels = {}
        for b in range(1, 9):
            arr = tensors.get(f"bits{b}")
            if arr is None or arr.dtype != np.float32 or arr.shape != (1 << b,) or not np.all(np.isfinite(arr)) \
                    or np.any(np.diff(arr) <= 0):
                raise AssetError(f"asset {ref}: 'bits{b}' must be {1 << b} increasing finite float32 levels")
            levels[b] = arr
        _LOADED[ref] = levels
    return _LOADED[ref]


def shipped_table_ref() -> str:
    """Reference of the table this distribution ships."""
    return asset_ref(TABLE_FILE)


def main() -> int:
    from safetensors.numpy import save_file

    save_file(build_table(), str(TABLE_FILE), metadata={"command": json.dumps("python -m codecframe_bayesq.tables")})
    print(json.dumps({"path": str(TABLE_FILE), "ref": shipped_table_ref()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
