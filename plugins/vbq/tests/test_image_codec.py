"""The shipped image codec: assets, CLI round trips on small images of any size, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import codecframe
from codecframe import container
from codecframe.assets import asset_ref, find_asset
from codecframe.cli.main import main as cli
from codecframe.errors import AssetError, FormatError
from codecframe.io import atomic_write

from codecframe_vbq.assets import asset_paths
from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.metrics import psnr
from codecframe_vbq.image.shipped import RAW_SIGMA_TABLES_REF, TABLES_REF, VAE_REF


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    """A 72×100 crop of a held-out test image."""
    return np.ascontiguousarray(data.load("astronaut")[40:112, 200:300])


def _png(tmp_path, image, name="in.png"):
    path = tmp_path / name
    Image.fromarray(image).save(path)
    return path


def test_shipped_assets_match_their_references():
    paths = {asset_ref(p): p for p in asset_paths()}
    assert set(paths) == {VAE_REF, TABLES_REF, RAW_SIGMA_TABLES_REF}
    for ref in paths:
        assert find_asset(ref) == paths[ref]
    for ref in (TABLES_REF, RAW_SIGMA_TABLES_REF):
        tables = ImageCodec(tables=ref).quantizer.tables
        assert tables.channels == ImageCodec().network.config.latent and tables.r_max == 10


def test_cli_round_trip_with_lambda_and_bpp(tmp_path, small, capsys):
    src = _png(tmp_path, small)
    assert cli(["image", "compress", str(src), "-o", str(tmp_path / "a.cfr"), "--lambda", "2"]) == 0
    assert cli(["image", "decompress", str(tmp_path / "a.cfr"), "-o", str(tmp_path / "a.png")]) == 0
    out = np.asarray(Image.open(tmp_path / "a.png"))
    assert out.shape == small.shape and out.dtype == np.uint8
    assert psnr(small, out) > 18.0
    assert cli(["image", "compress", str(src), "-o", str(tmp_path / "b.cfr"), "--bpp", "2.5"]) == 0
    assert (tmp_path / "b.cfr").stat().st_size * 8 <= 2.5 * small.shape[0] * small.shape[1]
    assert cli(["image", "decompress", str(tmp_path / "b.cfr"), "-o", str(tmp_path / "b.png")]) == 0
    assert np.asarray(Image.open(tmp_path / "b.png")).shape == small.shape
    assert "bpp" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (16, 48), (31, 5)])
def test_any_size_is_padded_and_cropped(size, small):
    image = np.ascontiguousarray(small[: size[0], : size[1]])
    codec = ImageCodec()
    encoded = codec.encode(image, 1.0)
    decoded, header = ImageCodec.decode(encoded.data)
    assert decoded.shape == image.shape
    latent_shape = header["groups"][0]["shape"]
    assert tuple(latent_shape[1:]) == (-(-size[0] // 16), -(-size[1] // 16))


def test_decoded_latents_equal_the_encoders_exactly(small):
    codec = ImageCodec()
    post = codec.posterior(small)
    for lam in (0.3, 3.0):
        data_bytes = codec.encode_posterior(post, small.shape[:2], lam)
        q = codec.quantizer.quantize(post, {"lambda": lam})
        assert codecframe.decode(data_bytes).arrays["latent"].tobytes() == codec.quantizer.dequantize(q).tobytes()


def test_rate_falls_with_lambda_and_bpp_is_met(small):
    codec = ImageCodec()
    sizes = [len(codec.encode(small, lam).data) for lam in (0.25, 1.0, 4.0, 16.0)]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]
    for bpp in (1.2, 2.0, 3.0):  # a 100x72 image: the ~800-byte header alone is 0.9 bpp
        encoded = codec.encode_bpp(small, bpp)
        assert encoded.bpp <= bpp


def _bad_png16(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 4000, np.uint16)).save(path)
    return path


@pytest.mark.parametrize("case", ["not_image", "16bit", "transparent", "zero_size", "lambda0", "lambda_nan",
                                  "lambda_neg", "bpp_unreachable", "bpp_nan", "missing"])
def test_bad_input_gives_a_clear_error_and_no_output(tmp_path, small, capsys, case):
    out = tmp_path / "out.cfr"
    args = None
    if case == "not_image":
        (tmp_path / "x.png").write_bytes(b"hello, not an image")
        args = [str(tmp_path / "x.png")]
    elif case == "16bit":
        args = [str(_bad_png16(tmp_path))]
    elif case == "transparent":
        rgba = np.dstack([small, np.full(small.shape[:2], 100, np.uint8)])
        args = [str(_png(tmp_path, rgba))]
    elif case == "zero_size":
        (tmp_path / "z.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x00\x00\x00\x00\x05\x08\x02\x00\x00\x00")
        args = [str(tmp_path / "z.png")]
    elif case.startswith("lambda"):
        value = {"lambda0": "0", "lambda_nan": "nan", "lambda_neg": "-2"}[case]
        args = [str(_png(tmp_path, small)), "--lambda", value]
    elif case == "bpp_unreachable":
        args = [str(_png(tmp_path, small)), "--bpp", "0.01"]
    elif case == "bpp_nan":
        args = [str(_png(tmp_path, small)), "--bpp", "nan"]
    elif case == "missing":
        args = [str(tmp_path / "nope.png")]
    code = cli(["image", "compress", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == (3 if case == "missing" else 1) and "codecframe: error:" in err  # 3: an OS error
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.cfr")]
    expect = {"not_image": "not an image", "16bit": "16", "transparent": "transparency", "zero_size": "",
              "lambda0": "λ", "lambda_nan": "λ", "lambda_neg": "λ", "bpp_unreachable": "unreachable",
              "bpp_nan": "--bpp", "missing": "no such file"}[case]
    assert expect in err


def test_container_with_other_tables_fails_with_asset_error(tmp_path, small):
    encoded = ImageCodec().encode(small, 1.0)
    box = container.read(encoded.data)
    header = dict(box.header)
    other = "sha256:" + "ab" * 32
    header["pipeline"] = {**header["pipeline"], "quantizer": {**header["pipeline"]["quantizer"], "tables": other}}
    header.pop("streams")
    forged = container.write(header, list(box.streams))
    with pytest.raises(AssetError, match=other):
        ImageCodec.decode(forged)
    path = tmp_path / "forged.cfr"
    atomic_write(path, forged)
    assert cli(["image", "decompress", str(path), "-o", str(tmp_path / "f.png")]) == 1
    assert not (tmp_path / "f.png").exists()


def test_non_image_container_is_refused(tmp_path):
    from codecframe.builtins.gaussian import GaussianPosterior

    data_bytes = codecframe.Pipeline(quantizer="vbq").encode({"x": GaussianPosterior(mean=np.zeros(4), std=np.ones(4))})
    with pytest.raises(FormatError, match="vbq_image"):
        ImageCodec.decode(data_bytes)


def test_jpeg_input_is_accepted(tmp_path, small):
    buf = io.BytesIO()
    Image.fromarray(small).save(buf, format="JPEG", quality=90)
    (tmp_path / "in.jpg").write_bytes(buf.getvalue())
    assert cli(["image", "compress", str(tmp_path / "in.jpg"), "-o", str(tmp_path / "j.cfr")]) == 0


def test_demo_writes_real_files(tmp_path):
    from codecframe_vbq.demo import run

    rows = run(tmp_path)
    assert len(rows) == 3 and all(r["plugin"] == "vbq" for r in rows)
    files = sorted(tmp_path.glob("*.cfr"))
    assert sorted(8 * f.stat().st_size for f in files) == sorted(r["bits"] for r in rows)
    assert rows[-1]["bits_per_element"] <= 0.3


@pytest.mark.parametrize("change", ["huge", "zero", "shape", "channels", "vae", "no_meta"])
def test_inconsistent_image_headers_are_refused_before_decoding(small, change):
    box = container.read(ImageCodec().encode(small, 1.0).data)
    header = {k: v for k, v in box.header.items() if k != "streams"}
    info = dict(header["meta"]["vbq_image"])
    group = dict(header["groups"][0])
    if change == "huge":
        info.update(height=1 << 20, width=1 << 20)
    elif change == "zero":
        info["height"] = 0
    elif change == "shape":
        group["shape"] = [32, 99, 99]
    elif change == "channels":
        group["shape"] = [31, *group["shape"][1:]]
    elif change == "vae":
        info["vae"] = "sha256:nothex"
    header["meta"] = {} if change == "no_meta" else {"vbq_image": info}
    header["groups"] = [group]
    with pytest.raises(FormatError):
        ImageCodec.decode(container.write(header, list(box.streams)))
