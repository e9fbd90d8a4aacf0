"""Demo hook (``codecframe.demos``): real ``.cfr`` files with the shipped tokenizer, decoded back."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import skimage.data

from codecframe.io import atomic_write, read_bytes

from . import data
from .tokenizer import Tokenizer

__all__ = ["run"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10.0 * math.log10(1.0 / float(np.mean((a.astype(np.float64) - b) ** 2)))


def run(workdir: Path) -> list[dict[str, Any]]:
    """Compress the digits test set and the held-out ``camera`` photograph; return one row per file."""
    tok = Tokenizer.load()
    rows = []
    _, digits = data.digits()
    path = workdir / "gmvq-digits-test.cfr"
    atomic_write(path, tok.compress(digits))
    rec = tok.decompress(read_bytes(path))
    bits = 8 * path.stat().st_size
    rows.append({
        "plugin": "gmvq",
        "case": f"{len(digits)} test digits 8x8, {tok.grid ** 2} tokens each, C={tok.codebook_size}",
        "bits": bits,
        "bits_per_element": round(bits / digits.size, 4),
        "distortion": f"MSE {np.mean((rec - digits) ** 2) * 1e3:.2f}e-3, PSNR {_psnr(rec, digits):.1f} dB",
    })
    photo = data.image_to_gray(skimage.data.camera())[::2, ::2]
    path = workdir / "gmvq-camera-256.cfr"
    atomic_write(path, tok.compress_image(photo))
    rec = tok.decompress_image(read_bytes(path))
    bits = 8 * path.stat().st_size
    rows.append({
        "plugin": "gmvq",
        "case": f"camera {photo.shape[0]}x{photo.shape[1]} (held out), 8x8 patches",
        "bits": bits,
        "bits_per_element": round(bits / photo.size, 4),
        "distortion": f"PSNR {_psnr(rec, photo):.1f} dB",
    })
    return rows
