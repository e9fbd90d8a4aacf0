"""Image input policy: conversions, refusals with clear errors, atomic PNG output."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from codecframe.errors import InputError
from codecframe_vbq.image.files import decode_image, png_bytes, write_png

pytestmark = pytest.mark.nojit


def _encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _raw_png(width: int, height: int, depth: int, color: int) -> bytes:
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    row = b"\x00" + b"\x00" * (width * channels * depth // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(row * height))
            + _png_chunk(b"IEND", b""))


def test_rgb_is_used_as_is():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    arr, notes = decode_image(png_bytes(rgb))
    assert notes == [] and arr.dtype == np.uint8 and np.array_equal(arr, rgb)


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK"])
def test_other_8bit_modes_are_converted_with_a_note(mode):
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (6, 4, 3), dtype=np.uint8)).convert(mode)
    arr, notes = decode_image(_encode(img, "JPEG" if mode == "CMYK" else "PNG"))
    assert arr.shape == (6, 4, 3) and arr.dtype == np.uint8
    assert len(notes) == 1 and "RGB" in notes[0]


def test_opaque_alpha_is_dropped_and_transparency_refused():
    rgba = np.full((4, 4, 4), 255, np.uint8)
    arr, notes = decode_image(_encode(Image.fromarray(rgba, "RGBA")))
    assert arr.shape == (4, 4, 3) and "alpha" in notes[0]
    rgba[0, 0, 3] = 10
    with pytest.raises(InputError, match="transparency"):
        decode_image(_encode(Image.fromarray(rgba, "RGBA")))
    la = np.full((4, 4, 2), 255, np.uint8)
    la[1, 1, 1] = 0
    with pytest.raises(InputError, match="transparency"):
        decode_image(_encode(Image.fromarray(la, "LA")))


@pytest.mark.parametrize("color", [0, 2])
def test_16bit_png_is_refused(color):
    with pytest.raises(InputError, match="16-bit"):
        decode_image(_raw_png(3, 3, 16, color))


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30])
def test_non_images_are_refused(data):
    with pytest.raises(InputError, match="not an image"):
        decode_image(data)


def test_zero_size_png_is_refused():
    with pytest.raises(InputError):
        decode_image(_raw_png(0, 5, 8, 2))


def test_write_png_leaves_no_partial_file_on_failure(tmp_path):
    out = tmp_path / "x.png"
    with pytest.raises(Exception):
        write_png(out, np.zeros((2, 2, 5), np.uint8))
    assert list(tmp_path.iterdir()) == []
    write_png(out, np.zeros((2, 3, 3), np.uint8))
    assert np.asarray(Image.open(out)).shape == (2, 3, 3)
