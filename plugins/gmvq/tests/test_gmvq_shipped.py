"""The shipped checkpoint: loads, is registered as an asset, codes below log2(C), and the demo runs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from codecframe.assets import find_asset
from codecframe_gmvq import data
from codecframe_gmvq.demo import run
from codecframe_gmvq.shipped import SHIPPED_CHECKPOINT, shipped_ref
from codecframe_gmvq.tokenizer import Tokenizer


def test_shipped_checkpoint_is_a_registered_asset() -> None:
    assert find_asset(shipped_ref()).resolve() == SHIPPED_CHECKPOINT.resolve()
    tok = Tokenizer.load()
    assert tok.ref == shipped_ref()
    assert (tok.codebook_size, tok.codebook.dim, tok.image_size) == (256, 16, 8)


def test_shipped_model_codes_digits_below_log2_c() -> None:
    tok = Tokenizer.load()
    _, test = data.digits()
    blob = tok.compress(test)
    bits_per_token = 8 * len(blob) / (len(test) * tok.grid**2)  # whole file, header included
    assert bits_per_token < math.log2(tok.codebook_size)
    rec = tok.decompress(blob)
    assert float(np.mean((rec - test) ** 2)) < 0.01


def test_demo_writes_and_decodes_real_files(tmp_path: Path) -> None:
    rows = run(tmp_path)
    assert len(rows) == 2 and all(r["plugin"] == "gmvq" for r in rows)
    for row in rows:
        assert row["bits"] > 0 and "PSNR" in row["distortion"]
    assert sorted(p.name for p in tmp_path.glob("*.cfr")) == ["gmvq-camera-256.cfr", "gmvq-digits-test.cfr"]
    assert sum(8 * p.stat().st_size for p in tmp_path.glob("*.cfr")) == sum(r["bits"] for r in rows)


def test_checkpoint_files_are_canonical(tiny_checkpoint: Path) -> None:
    """Sorted, compact safetensors headers: the same weights always give the same bytes (and hash)."""
    from safetensors.numpy import load, save

    from codecframe_gmvq.checkpoint import _canonical, read_metadata

    for path in (SHIPPED_CHECKPOINT, tiny_checkpoint):
        blob = path.read_bytes()
        assert _canonical(save(load(blob), metadata=read_metadata(blob))) == blob
