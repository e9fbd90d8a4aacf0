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
