"""Tokenizer/codec API: shapes, containers, exact index round trips and clear errors on bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import codecframe
from codecframe.errors import AssetError, FormatError, InputError
from codecframe_gmvq.checkpoint import CheckpointError, load_model, read_codebook
from codecframe_gmvq.tokenizer import Tokenizer


def test_encode_decode_shapes_and_consistency(tiny_tokenizer: Tokenizer, test_digits: np.ndarray) -> None:
    idx = tiny_tokenizer.encode(test_digits[:10])
    assert idx.shape == (10, 4, 4) and idx.dtype == np.int32
    assert 0 <= idx.min() and idx.max() < tiny_tokenizer.codebook_size
    rec = tiny_tokenizer.decode(idx)
    assert rec.shape == (10, 8, 8) and rec.dtype == np.float32 and 0 <= rec.min() and rec.max() <= 1
    np.testing.assert_array_equal(tiny_tokenizer.encode(test_digits[3]), idx[3:4])  # a single image works
    np.testing.assert_array_equal(tiny_tokenizer.encode(test_digits[:10, None]), idx)  # (N, 1, 8, 8) too


@pytest.mark.nojit
def test_compress_round_trip_matches_encode_decode(tiny_tokenizer: Tokenizer, test_digits: np.ndarray) -> None:
    images = test_digits[:50]
    data = tiny_tokenizer.compress(images)
    np.testing.assert_array_equal(tiny_tokenizer.decompress_indices(data), tiny_tokenizer.encode(images))
    np.testing.assert_array_equal(tiny_tokenizer.decompress(data), tiny_tokenizer.decode(tiny_tokenizer.encode(images)))
    header = codecframe.decode(data).header
    assert header["pipeline"]["quantizer"]["codebook"] == tiny_tokenizer.ref
    # The tokenizer picked the cheapest index model; every model gives the same reconstruction.
    sizes = {m: len(tiny_tokenizer.compress(images, index_model=m)) for m in ("usage", "fitted", "uniform")}
    assert len(data) == min(sizes.values())
    for m in sizes:
        np.testing.assert_array_equal(tiny_tokenizer.decompress(tiny_tokenizer.compress(images, index_model=m)),
                                      tiny_tokenizer.decompress(data))


@pytest.mark.nojit
@settings(max_examples=30, deadline=None)
@given(st.data())
def test_indices_round_trip_exactly_through_the_container(tiny_tokenizer: Tokenizer, data: st.DataObject) -> None:
    from codecframe_gmvq.posterior import CategoricalPosterior

    n = data.draw(st.integers(0, 12))
    index_model = data.draw(st.sampled_from(["usage", "fitted", "uniform"]))
    c = tiny_tokenizer.codebook_size
    flat = data.draw(st.lists(st.integers(0, c - 1), min_size=16 * n, max_size=16 * n))
    indices = np.array(flat, np.int64).reshape(n, 4, 4)
    logits = np.where(np.arange(c) == indices[..., None], 0.0, -3.0)
    post = CategoricalPosterior(logits=logits)
    blob = tiny_tokenizer.pipeline(index_model).encode({"tokens": post}, meta={"gmvq": {"kind": "images", "count": n}})
    np.testing.assert_array_equal(tiny_tokenizer.decompress_indices(blob), indices)


def test_whole_image_round_trip_any_size(tiny_tokenizer: Tokenizer) -> None:
    rng = np.random.default_rng(0)
    img = rng.random((21, 13)).astype(np.float32)
    out = tiny_tokenizer.decompress_image(tiny_tokenizer.compress_image(img))
    assert out.shape == (21, 13) and out.dtype == np.float32
    np.testing.assert_array_equal(tiny_tokenizer.decompress_any(tiny_tokenizer.compress_image(img)), out)
    with pytest.raises(FormatError, match="does not describe image"):
        tiny_tokenizer.decompress_image(tiny_tokenizer.compress(np.zeros((2, 8, 8))))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((4, 16, 16)), r"shape \(N, 8, 8\)"),
        (np.zeros((4, 8, 8, 3)), "3 channels"),
        (np.full((2, 8, 8), 2.0), r"in \[0, 1\]"),
        (np.full((2, 8, 8), np.nan), "finite"),
        (np.zeros((2, 8, 8), bool), "numeric"),
    ],
)
def test_bad_images_raise_input_errors(tiny_tokenizer: Tokenizer, images: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        tiny_tokenizer.encode(images)


def test_bad_indices_and_whole_images(tiny_tokenizer: Tokenizer) -> None:
    with pytest.raises(InputError, match=r"indices must be in 0\.\.15"):
        tiny_tokenizer.decode(np.full((1, 4, 4), 16))
    with pytest.raises(InputError, match=r"indices must be in 0\.\.15"):
        tiny_tokenizer.decode(np.full((1, 4, 4), -1))
    with pytest.raises(InputError, match=r"shape \(N, 4, 4\)"):
        tiny_tokenizer.decode(np.zeros((1, 5, 4), np.int64))
    with pytest.raises(InputError, match="integers"):
        tiny_tokenizer.decode(np.zeros((1, 4, 4), np.float32))
    with pytest.raises(InputError, match="2-D gray image.*convert colour"):
        tiny_tokenizer.compress_image(np.zeros((16, 16, 3)))


def test_container_with_another_codebook_fails(tiny_tokenizer: Tokenizer, other_checkpoint: Path, tmp_path: Path,
                                                test_digits: np.ndarray) -> None:
    other = Tokenizer.load(other_checkpoint)
    data = other.compress(test_digits[:4])
    with pytest.raises(FormatError, match="made with codebook"):
        tiny_tokenizer.decompress(data)
    # The installation's file for that hash now holds other tables: decoding reports the hash mismatch.
    swapped = tmp_path / "swapped.safetensors"
    swapped.write_bytes(other_checkpoint.read_bytes())
    mine = Tokenizer.load(swapped)
    blob = mine.compress(test_digits[:4])
    swapped.write_bytes(Path(tiny_tokenizer_path(tiny_tokenizer)).read_bytes())
    with pytest.raises(AssetError, match="no longer matches"):
        codecframe.decode(blob)


def tiny_tokenizer_path(tok: Tokenizer) -> str:
    from codecframe.assets import find_asset

    return str(find_asset(tok.ref))


def test_unknown_codebook_hash_is_an_asset_error(tiny_tokenizer: Tokenizer, test_digits: np.ndarray) -> None:
    from codecframe_gmvq.posterior import CategoricalPosterior
    from codecframe.pipeline import Pipeline

    ref = "sha256:" + "0" * 64
    pipe = Pipeline(posterior="categorical", quantizer={"id": "gmvq", "codebook": ref})
    with pytest.raises(AssetError, match="no installed asset has sha256:0000"):
        pipe.encode({"tokens": CategoricalPosterior(logits=np.zeros((2, 16)))})


def _with_metadata(data: bytes, **changes: str) -> bytes:
    from safetensors.numpy import load, save
    from codecframe_gmvq.checkpoint import read_metadata

    meta = dict(read_metadata(data), **changes)
    return save(load(data), metadata=meta)


def test_checkpoint_errors(tiny_checkpoint: Path, tmp_path: Path) -> None:
    good = tiny_checkpoint.read_bytes()
    with pytest.raises(CheckpointError, match="not a GM-VQ checkpoint"):
        load_model(_with_metadata(good, format="something-else"))
    with pytest.raises(CheckpointError, match="format_version '9'"):
        load_model(_with_metadata(good, format_version="9"))
    cfg = json.loads(_meta(good)["model_config"])
    with pytest.raises(CheckpointError, match="codebook is 16x4 but its model config says 32x4"):
        load_model(_with_metadata(good, model_config=json.dumps({**cfg, "codebook_size": 32})))
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_model(_with_metadata(good, model_config=json.dumps({**cfg, "hidden": 32})))
    with pytest.raises(CheckpointError, match="shorter than"):
        load_model(b"abc")
    with pytest.raises(CheckpointError, match="header length"):
        load_model(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(InputError, match="no such file"):
        Tokenizer.load(tmp_path / "missing.safetensors")


def _meta(data: bytes) -> dict[str, str]:
    from codecframe_gmvq.checkpoint import read_metadata

    return read_metadata(data)


def test_untrained_checkpoint_is_refused(tiny_checkpoint: Path) -> None:
    from safetensors.numpy import load, save

    good = tiny_checkpoint.read_bytes()
    tensors = load(good)
    tensors["usage_counts"] = np.zeros_like(tensors["usage_counts"])
    with pytest.raises(CheckpointError, match="untrained"):
        read_codebook(save(tensors, metadata=_meta(good)))
    del tensors["usage_counts"]
    with pytest.raises(CheckpointError, match="untrained"):
        read_codebook(save(tensors, metadata=_meta(good)))


@pytest.mark.parametrize("method", ["gmvq", "vqvae", "vqvae-ema", "gumbel"])
def test_oversized_model_config_is_refused_before_anything_is_built(tiny_checkpoint: Path, method: str) -> None:
    """Issue 19 B5: hidden = 200000 would allocate 1.28 TB; the weights present decide, and nothing is allocated."""
    import resource

    if method == "vqvae-ema":
        pytest.importorskip("vector_quantize_pytorch")
    good = tiny_checkpoint.read_bytes()
    cfg = json.loads(_meta(good)["model_config"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="weights do not match its model config"):
        load_model(_with_metadata(good, model_config=json.dumps({**cfg, "hidden": 200_000, "method": method})))
    with pytest.raises(CheckpointError, match="model config says 16x1048576"):
        load_model(_with_metadata(good, model_config=json.dumps({**cfg, "latent_dim": 1 << 20})))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: under 200 MB grown
    with pytest.raises(CheckpointError, match="image_size must be an even number in 4..1024"):
        load_model(_with_metadata(good, model_config=json.dumps({**cfg, "image_size": 1 << 20})))


def test_oversized_checkpoint_at_the_cli(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from codecframe.cli.main import main

    good = tiny_checkpoint.read_bytes()
    cfg = json.loads(_meta(good)["model_config"])
    bad = tmp_path / "huge.safetensors"
    bad.write_bytes(_with_metadata(good, model_config=json.dumps({**cfg, "hidden": 200_000})))
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8), np.float32))
    code = main(["gmvq", "compress", str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.cfr"), "--model", str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and "weights do not match its model config" in err and "Traceback" not in err
