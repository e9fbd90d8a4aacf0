"""CLI round trips: train → compress → decompress, and the shipped model on a PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codecframe.cli.main import main
from codecframe_gmvq.tokenizer import Tokenizer


@pytest.mark.nojit
def test_train_compress_decompress_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str], test_digits: np.ndarray) -> None:
    ckpt = tmp_path / "model.safetensors"
    rc = main(["gmvq", "train", "--dataset", "digits", "--steps", "20", "--codebook-size", "16", "--latent-dim", "4",
               "--sigma2", "0.01", "--threads", "1", "-o", str(ckpt)])
    out, err = capsys.readouterr()
    assert rc == 0 and ckpt.exists()
    assert "step 20/20" in err  # progress output
    assert json.loads(out)["checkpoint"] == str(ckpt)
    stack = tmp_path / "digits.npy"
    np.save(stack, test_digits[:30])
    assert main(["gmvq", "compress", str(stack), "-o", str(tmp_path / "d.cfr"), "--model", str(ckpt)]) == 0
    assert main(["gmvq", "decompress", str(tmp_path / "d.cfr"), "-o", str(tmp_path / "d.npy"), "--model", str(ckpt)]) == 0
    tok = Tokenizer.load(ckpt)
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), tok.decode(tok.encode(test_digits[:30])))
    # The same file with the shipped model: a clear error, exit code 1.
    assert main(["gmvq", "decompress", str(tmp_path / "d.cfr"), "-o", str(tmp_path / "e.npy")]) == 1
    assert "made with codebook" in capsys.readouterr().err


def test_shipped_model_png_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    img = (np.add.outer(np.arange(40), np.arange(36)) * 3 % 256).astype(np.uint8)
    img[10:20, 5:15] = rng.integers(0, 256, (10, 10))
    Image.fromarray(img).save(tmp_path / "in.png")
    assert main(["gmvq", "compress", str(tmp_path / "in.png"), "-o", str(tmp_path / "in.cfr")]) == 0
    assert main(["gmvq", "decompress", str(tmp_path / "in.cfr"), "-o", str(tmp_path / "out.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == img.shape and out.dtype == np.uint8
    expected = Tokenizer.load().decompress_image((tmp_path / "in.cfr").read_bytes())
    np.testing.assert_array_equal(out, np.round(expected * 255).astype(np.uint8))
    # Bad input: not an image; a multi-image container to PNG.
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main(["gmvq", "compress", str(tmp_path / "bad.png"), "-o", str(tmp_path / "x.cfr")]) == 1
    assert "not a readable image" in capsys.readouterr().err
    np.save(tmp_path / "s.npy", np.zeros((3, 8, 8)))
    assert main(["gmvq", "compress", str(tmp_path / "s.npy"), "-o", str(tmp_path / "s.cfr")]) == 0
    assert main(["gmvq", "decompress", str(tmp_path / "s.cfr"), "-o", str(tmp_path / "s.png")]) == 1
    assert "3 separate images" in capsys.readouterr().err


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(width: int, height: int, depth: int, color: int, rows: bytes) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def test_image_input_policy_matches_image_compress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19: 16-bit PNGs and float TIFFs were taken silently, animated GIFs lost frames, and a
    .npy or PNG header declaring 100000² pixels gave a traceback."""
    from codecframe_gmvq.cli import _read_image

    # 16-bit: the high byte, with a note (as codecframe image compress)
    values = np.random.default_rng(0).integers(0, 1 << 16, (5, 7), dtype=np.uint16)
    (tmp_path / "g16.png").write_bytes(_png(7, 5, 16, 0, b"".join(b"\x00" + r.astype(">u2").tobytes() for r in values)))
    arr, notes = _read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(arr, ((values >> 8).astype(np.float64) / 255).astype(np.float32))
    assert any("16-bit" in n for n in notes)
    rgb16 = np.random.default_rng(1).integers(0, 1 << 16, (4, 6, 3), dtype=np.uint16)
    (tmp_path / "c16.png").write_bytes(_png(6, 4, 16, 2, b"".join(b"\x00" + r.astype(">u2").tobytes() for r in rgb16)))
    assert main(["gmvq", "compress", str(tmp_path / "c16.png"), "-o", str(tmp_path / "c16.cfr")]) == 0
    assert "16-bit" in capsys.readouterr().err
    # refused: float samples, several frames, transparency, huge headers (.npy and PNG)
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "f.tiff")
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue", "green")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    rgba = np.full((8, 8, 4), 255, np.uint8)
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    (tmp_path / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64)
    (tmp_path / "huge.png").write_bytes(_png(100_000, 100_000, 8, 0, b"\x00" * 64))
    (tmp_path / "big.png").write_bytes(_png(1 << 14, 1 << 13, 8, 0, b"\x00" * 64))
    for name, message in [("f.tiff", "32-bit"), ("a.gif", "3 frames"), ("t.png", "transparency"),
                          ("huge.npy", "exceeds the limit"), ("huge.png", "exceeds"), ("big.png", "exceeds the limit")]:
        assert main(["gmvq", "compress", str(tmp_path / name), "-o", str(tmp_path / "x.cfr")]) in (1, 2), name
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (name, err)
        assert not (tmp_path / "x.cfr").exists()
