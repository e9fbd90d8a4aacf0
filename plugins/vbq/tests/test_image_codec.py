"""The shipped image codec: assets, CLI round trips on small images of any size, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from PIL import Image

import codecframe
from codecframe import container
from codecframe.assets import asset_ref, find_asset
from codecframe.cli.main import main as cli
from codecframe.errors import AssetError, FormatError, InputError, LimitError
from codecframe.io import atomic_write

from codecframe_vbq.assets import asset_paths
from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.metrics import psnr
from codecframe_vbq.image.shipped import (RAW_SIGMA_TABLES_REF, RAW_SIGMA_TABLES_V1_REF, RAW_SIGMA_TABLES_V2_REF,
                                          RAW_SIGMA_TABLES_V3_REF, TABLES_REF, TABLES_V1_REF, TABLES_V2_REF,
                                          TABLES_V3_REF, TABLES_V4_REF, VAE_REF, VAE_V1_REF, VAE_V2_REF, VAE_V3_REF,
                                          VAE_V4_REF)


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
    pairs = ((VAE_REF, TABLES_REF), (VAE_REF, RAW_SIGMA_TABLES_REF), (VAE_V4_REF, TABLES_REF),
             (VAE_V4_REF, RAW_SIGMA_TABLES_REF), (VAE_V3_REF, TABLES_V3_REF), (VAE_V3_REF, RAW_SIGMA_TABLES_V3_REF),
             (VAE_V2_REF, TABLES_V2_REF), (VAE_V2_REF, RAW_SIGMA_TABLES_V2_REF), (VAE_V1_REF, TABLES_V1_REF),
             (VAE_V1_REF, RAW_SIGMA_TABLES_V1_REF))
    assert set(paths) == {ref for pair in pairs for ref in pair} and len(paths) == 13
    for ref in paths:
        assert find_asset(ref) == paths[ref]
    for vae, tables in pairs:
        codec = ImageCodec(vae=vae, tables=tables)
        assert codec.quantizer.tables.channels == codec.network.config.latent and codec.quantizer.tables.r_max == 10
        codec.check_tables()  # each pair's tables record their VAE


def test_tables_fitted_for_another_vae_are_refused(small):
    """The first two shipped models both have 32 latent channels, so only the reference the tables record
    tells them apart."""
    mixed = ImageCodec(vae=VAE_V1_REF, tables=TABLES_V2_REF)
    with pytest.raises(InputError, match=f"fitted for the VAE {VAE_V2_REF}, not for {VAE_V1_REF}"):
        mixed.encode(small, 2.0)
    with pytest.raises(InputError, match="fitted for the VAE"):
        mixed.encode_bpp(small, 0.5)


def test_the_default_vae_shares_the_fourth_models_tables_only(small):
    """The fifth model is the fourth's encoder with a tuned decoder: its tables are the fourth's, and
    tables fitted for any other model are refused."""
    assert TABLES_REF == TABLES_V4_REF and VAE_REF != VAE_V4_REF
    assert ImageCodec(vae=VAE_REF, tables=TABLES_V4_REF).network.config == ImageCodec(vae=VAE_V4_REF).network.config
    with pytest.raises(InputError, match=f"fitted for the VAE {VAE_V3_REF}"):
        ImageCodec(vae=VAE_REF, tables=TABLES_V3_REF).encode(small, 2.0)


@pytest.mark.parametrize("vae, tables", [(VAE_V1_REF, TABLES_V1_REF), (VAE_V2_REF, TABLES_V2_REF),
                                         (VAE_V3_REF, TABLES_V3_REF), (VAE_V4_REF, TABLES_V4_REF)])
def test_files_written_with_earlier_models_still_decode(small, vae, tables):
    """The header names the VAE: a file made with an earlier shipped model decodes with it."""
    old = ImageCodec(vae=vae, tables=tables).encode(small, 2.0).data
    image, header = ImageCodec.decode(old)
    assert header["meta"]["vbq_image"]["vae"] == vae and image.shape == small.shape
    assert psnr(small, image) > 18.0


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


def _float_tiff(tmp_path):
    path = tmp_path / "deep.tiff"
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(path)
    return path


def _animated_gif(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


@pytest.mark.parametrize("case", ["not_image", "float", "animated", "transparent", "zero_size", "lambda0", "lambda_nan",
                                  "lambda_neg", "bpp_unreachable", "bpp_nan", "missing"])
def test_bad_input_gives_a_clear_error_and_no_output(tmp_path, small, capsys, case):
    out = tmp_path / "out.cfr"
    args = None
    if case == "not_image":
        (tmp_path / "x.png").write_bytes(b"hello, not an image")
        args = [str(tmp_path / "x.png")]
    elif case == "float":
        args = [str(_float_tiff(tmp_path))]
    elif case == "animated":
        args = [str(_animated_gif(tmp_path))]
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
    expect = {"not_image": "not an image", "float": "32-bit float", "animated": "2 frames", "transparent": "transparency", "zero_size": "",
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


@pytest.mark.parametrize("change", ["huge", "zero", "shape", "channels", "vae", "no_meta", "grey3", "extra_key"])
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
    elif change == "grey3":
        info["channels"] = 3
    elif change == "extra_key":
        info["alpha"] = True
    header["meta"] = {} if change == "no_meta" else {"vbq_image": info}
    header["groups"] = [group]
    with pytest.raises(LimitError if change == "huge" else FormatError):
        ImageCodec.decode(container.write(header, list(box.streams)))


def test_grey_is_coded_as_grey_and_decodes_to_one_channel(tmp_path, small, capsys):
    grey = np.asarray(Image.fromarray(small).convert("L"))
    codec = ImageCodec()
    encoded = codec.encode(grey, 1.0)
    header = container.read(encoded.data).header
    assert header["meta"]["vbq_image"]["channels"] == 1
    # the latents are those of the image with R = G = B: the files differ only in the meta entry
    tripled = container.read(codec.encode(np.repeat(grey[:, :, None], 3, axis=2), 1.0).data)
    assert list(container.read(encoded.data).streams) == list(tripled.streams)
    decoded, _ = ImageCodec.decode(encoded.data)
    assert decoded.shape == grey.shape and decoded.dtype == np.uint8
    rgb, _ = ImageCodec.decode(codec.encode_posterior(codec.posterior(grey), grey.shape, 1.0))
    mean = np.clip(np.rint(rgb.astype(np.float64).mean(axis=2)), 0, 255)
    assert np.abs(decoded.astype(np.float64) - mean).max() <= 1  # the mean of the decoded channels
    assert psnr(grey, decoded) > 20
    path = tmp_path / "g.png"
    Image.fromarray(grey).save(path)
    assert cli(["image", "compress", str(path), "-o", str(tmp_path / "g.cfr")]) == 0
    assert cli(["image", "decompress", str(tmp_path / "g.cfr"), "-o", str(tmp_path / "g2.png")]) == 0
    with Image.open(tmp_path / "g2.png") as out:
        assert out.mode == "L" and out.size == (grey.shape[1], grey.shape[0])


_MODES = ["RGB", "L", "1", "P", "RGBA", "LA", "PA", "CMYK", "YCbCr", "I;16", "I", "F", "HSV", "LAB", "RGBX"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(_MODES), fmt=st.sampled_from(["PNG", "TIFF", "WEBP", "JPEG", "GIF", "BMP"]),
       h=st.integers(1, 40), w=st.integers(1, 40), alpha=st.sampled_from([255, 0]), seed=st.integers(0, 2**16))
def test_any_image_mode_and_shape_round_trips_or_is_refused_cleanly(mode, fmt, h, w, alpha, seed):
    """Issue 17 item 7: every mode Pillow writes either codes (grey as grey) or gets a codecframe error."""
    from codecframe.errors import CodecframeError
    from codecframe_vbq.image.files import decode_image

    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[..., 3] = np.maximum(rgba[..., 3], alpha)  # alpha 255: opaque everywhere; 0: random transparency
    base = Image.fromarray(rgba, "RGBA")
    try:
        img = (Image.fromarray(rng.integers(0, 1 << 16, (h, w), dtype=np.uint16)) if mode == "I;16"
               else base.convert("L").convert(mode) if mode in ("I", "F") else base.convert(mode))
        buf = io.BytesIO()
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        assume(False)  # Pillow cannot write this mode in this format
    data_bytes = buf.getvalue()
    with Image.open(io.BytesIO(data_bytes)) as probe:
        stored = probe.mode
    try:
        arr, notes = decode_image(data_bytes)
    except CodecframeError as exc:
        assert stored in ("I", "F") or "transparency" in str(exc), (stored, exc)
        return
    assert stored not in ("I", "F")
    grey = stored in ("1", "L", "LA", "La") or stored.startswith("I;16")
    assert arr.dtype == np.uint8 and arr.shape == ((h, w) if grey else (h, w, 3)), (stored, arr.shape)
    encoded = ImageCodec().encode(arr, 4.0)
    decoded, _ = ImageCodec.decode(encoded.data)
    assert decoded.shape == arr.shape and decoded.dtype == np.uint8


def test_refinement_improves_the_posterior_and_keeps_the_format(tmp_path, small, capsys):
    """Issue 17 item 6: --refine N changes only the posterior handed to VBQ; files decode as any other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two OpenMP threads on a loaded 2-core machine are 30x slower here
    try:
        _check_refinement(tmp_path, small, capsys)
    finally:
        torch.set_num_threads(threads)


def _check_refinement(tmp_path, small, capsys):
    codec = ImageCodec()
    plain = codec.refined_posterior(small, 0)
    refined = codec.refined_posterior(small, 30)
    assert refined.mean.shape == plain.mean.shape and refined.mean.dtype == np.float32
    assert not np.array_equal(refined.mean, plain.mean)
    assert np.array_equal(codec.refined_posterior(small, 30).mean, refined.mean)  # seeded
    g = [psnr(small, codec.network.decode_image(p.mean, small.shape[:2])) for p in (plain, refined)]
    assert g[1] > g[0] + 0.1, g  # the image's own ELBO, so g(μ) gets closer to the image
    encoded = codec.encode(small, 1.0, refine=5)
    header = container.read(encoded.data).header
    assert set(header["meta"]["vbq_image"]) == {"height", "width", "vae"}
    assert ImageCodec.decode(encoded.data)[0].shape == small.shape
    path = _png(tmp_path, small)
    assert cli(["image", "compress", str(path), "-o", str(tmp_path / "r.cfr"), "--refine", "3"]) == 0
    assert cli(["image", "compress", str(path), "-o", str(tmp_path / "bad.cfr"), "--refine", "-1"]) == 1
    assert "--refine" in capsys.readouterr().err and not (tmp_path / "bad.cfr").exists()


def test_a_stride_8_model_codes_its_latents_at_one_eighth(tmp_path, small):
    """A VAE of total stride 8 (a training variant) works through the codec: the latent group is
    (C, ⌈H/8⌉, ⌈W/8⌉), the header names the VAE, and a stride-16 latent shape is refused for it."""
    import torch

    from codecframe.assets import register_asset

    from codecframe_vbq.calibration import fit_calibrated_tables
    from codecframe_vbq.image.vae import ImageVAE, VAEConfig
    from codecframe_vbq.image.weights import load_network, save_vae

    torch.manual_seed(0)
    weights = save_vae(ImageVAE(VAEConfig(hidden=8, latent=4, stride=8, nonlinearity="gdn")), {})
    (tmp_path / "vae.safetensors").write_bytes(weights)
    net = load_network(weights)[0]
    mean, std = net.encode_image(small)
    assert mean.shape == (4, 9, 13)
    tables = fit_calibrated_tables(mean.reshape(4, -1), std.reshape(4, -1), None, (0.3, 1.0, 3.0), 10)
    (tmp_path / "tables.safetensors").write_bytes(tables.to_bytes())
    codec = ImageCodec(vae=register_asset(tmp_path / "vae.safetensors"),
                       tables=register_asset(tmp_path / "tables.safetensors"))
    data_ = codec.encode(small, 1.0).data
    box = container.read(data_)
    assert box.header["groups"][0]["shape"] == [4, 9, 13]
    assert box.header["meta"]["vbq_image"]["vae"] == asset_ref(weights)
    image, _ = ImageCodec.decode(data_)
    assert image.shape == small.shape
    assert np.array_equal(image, net.decode_image(codecframe.decode(data_).arrays["latent"], small.shape[:2]))
    header = {k: v for k, v in box.header.items() if k != "streams"}
    header["groups"] = [{**box.header["groups"][0], "shape": [4, 5, 7]}]  # the stride-16 shape
    with pytest.raises(FormatError, match="does not fit"):
        ImageCodec.decode(container.write(header, list(box.streams)))
