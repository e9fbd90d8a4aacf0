"""Reading images for the codec (with a stated conversion policy) and writing PNGs atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from codecframe.errors import InputError
from codecframe.io import atomic_write, read_bytes

__all__ = ["MAX_PIXELS", "read_image", "decode_image", "png_bytes", "write_png"]

#: Largest image accepted (pixels), far below what would exhaust memory.
MAX_PIXELS = 1 << 26
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_bit_depth(data: bytes) -> int | None:
    """Bit depth from a PNG's IHDR chunk (Pillow silently reduces 16-bit RGB to 8 bits)."""
    if data[:8] == _PNG_MAGIC and len(data) >= 25 and data[12:16] == b"IHDR":
        return data[24]
    return None


def decode_image(data: bytes, name: str = "input") -> tuple[np.ndarray, list[str]]:
    """uint8 RGB (H, W, 3) from encoded image bytes, and notes on any conversion made.

    Policy: 8-bit RGB is used as is; grayscale, bilevel, palette and CMYK/YCbCr images are
    converted to RGB; an alpha channel that is fully opaque is dropped; images with transparency,
    16- or 32-bit samples, zero size or more than :data:`MAX_PIXELS` pixels are refused with InputError.
    """
    from PIL import Image, UnidentifiedImageError

    depth = _png_bit_depth(data)
    if depth is not None and depth > 8:
        raise InputError(f"{name}: {depth}-bit PNG; this codec handles 8-bit images (convert it to 8 bits first)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"{name}: {img.width}x{img.height} exceeds the limit of {MAX_PIXELS} pixels")
            img.load()
            mode = img.mode
            if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
                raise InputError(f"{name}: {mode} image with 16/32-bit samples; this codec handles 8-bit images")
            notes = []
            if "A" in img.getbands() or mode in ("PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                alpha = np.asarray(rgba)[:, :, 3]
                if alpha.size and alpha.min() < 255:
                    raise InputError(f"{name}: {mode} image with transparency; flatten the alpha channel first")
                notes.append(f"{name}: dropped a fully opaque alpha channel ({mode} -> RGB)")
                img = rgba
            elif mode != "RGB":
                notes.append(f"{name}: converted {mode} to RGB")
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"{name}: not an image Pillow can read ({type(exc).__name__}: {exc})") from None
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{name}: image has zero size {arr.shape[:2]}")
    return np.ascontiguousarray(arr), notes


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str]]:
    """:func:`decode_image` of a file."""
    return decode_image(read_bytes(path, max_bytes=1 << 30), str(path))


def png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, np.uint8), "RGB").save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write ``image`` as PNG atomically (no partial file on failure)."""
    return atomic_write(path, png_bytes(image))
