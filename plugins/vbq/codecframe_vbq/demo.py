"""The plugin demo (entry point ``codecframe.demos``): real .cfr files from the shipped image codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from codecframe.io import atomic_write, read_bytes

__all__ = ["run"]


def _astronaut_256() -> np.ndarray:
    """The 256×256 crop around the face of the held-out astronaut image (native scale)."""
    from .image import data

    return np.ascontiguousarray(data.load("astronaut")[20:276, 150:406])


def run(workdir: Path) -> list[dict[str, Any]]:
    """Compress a 256×256 crop of the held-out astronaut at two λ and one bpp target; decode the files."""
    from .image.codec import ImageCodec
    from .image.files import write_png
    from .image.metrics import psnr

    image = _astronaut_256()
    codec = ImageCodec()
    rows = []
    for label, encode in (("λ=0.5", lambda: codec.encode(image, 0.5)), ("λ=8", lambda: codec.encode(image, 8.0)),
                          ("--bpp 0.3", lambda: codec.encode_bpp(image, 0.3))):
        encoded = encode()
        path = workdir / f"astronaut256-{label.replace('=', '').replace('--bpp ', 'bpp').replace('λ', 'lambda')}.cfr"
        atomic_write(path, encoded.data)
        decoded, _ = ImageCodec.decode(read_bytes(path))
        write_png(path.with_suffix(".png"), decoded)
        nbytes = path.stat().st_size
        rows.append({
            "plugin": "vbq",
            "case": f"astronaut 256x256 crop (held out) @ {label}" + ("" if label.startswith("λ") else f" (λ={encoded.lam:.3g})"),
            "bits": 8 * nbytes,
            "bits_per_element": round(8 * nbytes / (256 * 256), 4),
            "distortion": f"PSNR {psnr(image, decoded):.2f} dB",
        })
    return rows
