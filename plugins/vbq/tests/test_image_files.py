"""Image input policy: conversions, refusals with clear errors, atomic PNG output."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from codecframe.errors import InputError, LimitError
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


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` RGB pixels, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def test_rgb_is_used_as_is():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    arr, notes = decode_image(png_bytes(rgb))
    assert notes == [] and arr.dtype == np.uint8 and np.array_equal(arr, rgb)


@pytest.mark.parametrize("mode", ["P", "CMYK"])
def test_colour_modes_are_converted_to_rgb_with_a_note(mode):
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (6, 4, 3), dtype=np.uint8)).convert(mode)
    arr, notes = decode_image(_encode(img, "JPEG" if mode == "CMYK" else "PNG"))
    assert arr.shape == (6, 4, 3) and arr.dtype == np.uint8
    assert len(notes) == 1 and "RGB" in notes[0]


@pytest.mark.parametrize("mode", ["L", "1"])
def test_grey_stays_grey(mode):
    grey = np.random.default_rng(1).integers(0, 256, (6, 4), dtype=np.uint8)
    img = Image.fromarray(grey).convert(mode)
    arr, notes = decode_image(_encode(img))
    assert arr.shape == (6, 4) and arr.dtype == np.uint8
    assert np.array_equal(arr, np.asarray(img.convert("L")))
    assert notes == ([] if mode == "L" else ["input: converted 1 to grey (L)"])


def test_opaque_alpha_is_dropped_and_transparency_refused():
    rgba = np.full((4, 4, 4), 255, np.uint8)
    arr, notes = decode_image(_encode(Image.fromarray(rgba, "RGBA")))
    assert arr.shape == (4, 4, 3) and "alpha" in notes[0]
    arr, notes = decode_image(_encode(Image.fromarray(rgba[:, :, :2], "LA")))
    assert arr.shape == (4, 4) and "alpha" in notes[0]
    rgba[0, 0, 3] = 10
    with pytest.raises(InputError, match="transparency"):
        decode_image(_encode(Image.fromarray(rgba, "RGBA")))
    la = np.full((4, 4, 2), 255, np.uint8)
    la[1, 1, 1] = 0
    with pytest.raises(InputError, match="transparency"):
        decode_image(_encode(Image.fromarray(la, "LA")))


def _raw_png16(values: np.ndarray) -> bytes:
    """A 16-bit PNG (grey (H, W) or RGB (H, W, 3)) of uint16 ``values``."""
    h, w = values.shape[:2]
    color = 0 if values.ndim == 2 else 2
    rows = b"".join(b"\x00" + values[r].astype(">u2").tobytes() for r in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("shape", [(3, 5), (3, 5, 3)])
def test_16bit_pngs_keep_their_high_byte_with_a_note(shape):
    values = np.random.default_rng(2).integers(0, 1 << 16, shape, dtype=np.uint16)
    arr, notes = decode_image(_raw_png16(values))
    assert arr.shape == shape and np.array_equal(arr, (values >> 8).astype(np.uint8))
    assert len(notes) == 1 and "16-bit" in notes[0]


def test_16bit_grey_tiff_keeps_its_high_byte():
    values = np.random.default_rng(3).integers(0, 1 << 16, (4, 6), dtype=np.uint16)
    arr, notes = decode_image(_encode(Image.fromarray(values), "TIFF"))
    assert np.array_equal(arr, (values >> 8).astype(np.uint8)) and "16-bit" in notes[0]


@pytest.mark.parametrize("mode", ["I", "F"])
def test_32bit_samples_are_refused(mode):
    img = Image.new(mode, (4, 3), 7)
    with pytest.raises(InputError, match="32-bit"):
        decode_image(_encode(img, "TIFF"))


def test_multi_frame_images_are_refused():
    frames = [Image.new("RGB", (5, 4), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="3 frames"):
        decode_image(buf.getvalue())
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF")
    assert decode_image(buf.getvalue())[0].shape == (4, 5, 3)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    rgb = np.random.default_rng(4).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="PNG", exif=exif)
    arr, notes = decode_image(buf.getvalue())
    expected = {1: rgb, 3: rgb[::-1, ::-1], 6: np.rot90(rgb, -1), 8: np.rot90(rgb, 1)}[orientation]
    assert np.array_equal(arr, expected)
    assert (notes == []) == (orientation == 1)


def test_too_many_pixels_are_refused_from_the_header():
    with pytest.raises(LimitError, match="exceeds"):
        decode_image(_header_only_png(100_000, 100_000))  # above Pillow's own bomb limit
    with pytest.raises(LimitError, match="exceeds the limit"):
        decode_image(_header_only_png(1 << 14, 1 << 13))


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
