"""Reading images for the codec (with a stated conversion policy) and writing PNGs atomically."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from codecframe.errors import InputError, LimitError
from codecframe.io import atomic_write, read_bytes

__all__ = ["MAX_PIXELS", "read_image", "decode_image", "png_bytes", "write_png"]

#: Largest image accepted (pixels), far below what would exhaust memory; also the decoder's bound.
MAX_PIXELS = 1 << 26
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Modes that are grey (coded as grey: one channel in, one channel out).
_GREY = ("1", "L", "I;16", "I;16L", "I;16B", "I;16N")
#: Modes refused: samples with no fixed 8/16-bit range.
_UNBOUNDED = ("I", "F")
_ORIENTATION = 0x0112


def _png_bit_depth(data: bytes) -> int | None:
    """Bit depth from a PNG's IHDR chunk (Pillow silently reduces 16-bit RGB to 8 bits)."""
    if data[:8] == _PNG_MAGIC and len(data) >= 25 and data[12:16] == b"IHDR":
        return data[24]
    return None


def _check_alpha(img, mode: str, name: str, notes: list[str]):
    """``img`` without its alpha channel if that is fully opaque; InputError if it has transparency."""
    if not ("A" in img.getbands() or mode in ("PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)):
        return img, False
    grey = mode in ("LA", "La")
    flat = img.convert("LA" if grey else "RGBA")
    alpha = np.asarray(flat)[..., -1]
    if alpha.size and alpha.min() < 255:
        raise InputError(f"{name}: {mode} image with transparency; this codec has no alpha channel "
                         "(flatten the image onto a background first)")
    notes.append(f"{name}: dropped a fully opaque alpha channel ({mode} -> {'L' if grey else 'RGB'})")
    return flat.convert("L" if grey else "RGB"), True


def _open(data: bytes):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit follows
        return Image.open(io.BytesIO(data))


def decode_image(data: bytes, name: str = "input") -> tuple[np.ndarray, list[str]]:
    """uint8 RGB (H, W, 3) or grey (H, W) from encoded image bytes, and notes on any conversion made.

    Policy (``docs/vbq.md``): 8-bit RGB is used as is and 8-bit grey stays grey (2-D); bilevel
    becomes grey; 16-bit samples (grey ``I;16`` or 16-bit PNGs) are reduced to 8 bits by their high
    byte (v >> 8); palette, CMYK, YCbCr, LAB and HSV images become RGB; a fully opaque alpha channel
    is dropped; an EXIF orientation is applied (the image is coded upright). Refused with InputError:
    transparency, 32-bit integer or float samples, multi-frame images (animated GIF/PNG/WebP,
    multi-page TIFF), zero size and non-images; with LimitError: more than :data:`MAX_PIXELS`
    pixels, checked from the header before any pixel is decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    notes: list[str] = []
    try:
        with _open(data) as img:
            if img.width * img.height > MAX_PIXELS:
                raise LimitError(f"{name}: {img.width}x{img.height} exceeds the limit of {MAX_PIXELS} pixels")
            frames = getattr(img, "n_frames", 1)
            if frames > 1:
                raise InputError(f"{name}: {img.format} with {frames} frames; this codec takes one image "
                                 "(extract the frame you want first)")
            mode = img.mode
            if mode in _UNBOUNDED:
                raise InputError(f"{name}: {mode} image with 32-bit {'float' if mode == 'F' else 'integer'} "
                                 "samples; this codec handles 8- and 16-bit images")
            depth = _png_bit_depth(data)
            img.load()
            orientation = img.getexif().get(_ORIENTATION, 1)
            if orientation in range(2, 9):
                img = ImageOps.exif_transpose(img)
                notes.append(f"{name}: applied the EXIF orientation {orientation} (coded upright)")
            img, dropped = _check_alpha(img, mode, name, notes)
            if depth is not None and depth > 8 and mode not in _GREY:
                notes.append(f"{name}: reduced 16-bit samples to 8 bits (high byte)")
            if img.mode.startswith("I;16"):
                arr = (np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8)
                notes.append(f"{name}: reduced 16-bit grey samples to 8 bits (high byte)")
            elif img.mode in _GREY:
                arr = np.asarray(img.convert("L"), dtype=np.uint8)
                if img.mode != "L":
                    notes.append(f"{name}: converted {img.mode} to grey (L)")
            else:
                if img.mode != "RGB" and not dropped:
                    notes.append(f"{name}: converted {img.mode} to RGB")
                arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{name}: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"{name}: not an image Pillow can read ({type(exc).__name__}: {exc})") from None
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{name}: image has zero size {arr.shape[:2]}")
    return np.ascontiguousarray(arr), notes


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str]]:
    """:func:`decode_image` of a file."""
    return decode_image(read_bytes(path, max_bytes=1 << 30), str(path))


def png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB (H, W, 3) or grey (H, W) array."""
    from PIL import Image

    arr = np.ascontiguousarray(image, np.uint8)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise InputError(f"png_bytes needs a uint8 (H, W) or (H, W, 3) array, got {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr, "L" if arr.ndim == 2 else "RGB").save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Write ``image`` as PNG atomically (no partial file on failure)."""
    return atomic_write(path, png_bytes(image))
