"""The codec's numpy network: the same function as the torch VAE it was trained as, without torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from codecframe.assets import load_asset
from codecframe.errors import AssetError

from codecframe_vbq.image import network
from codecframe_vbq.image.architecture import DOWNSAMPLING, VAEConfig
from codecframe_vbq.image.shipped import VAE_REF
from codecframe_vbq.image.vae import ImageVAE
from codecframe_vbq.image.weights import load_network, load_vae, read_vae, save_vae


def _random_model(config: VAEConfig, seed: int) -> ImageVAE:
    """An untrained VAE whose every parameter (GDN's included) is perturbed, so no term is trivial."""
    torch.manual_seed(seed)
    model = ImageVAE(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _torch_encode(model: ImageVAE, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        mean, std = model.encode(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None])
    return mean[0].numpy(), std[0].numpy()


def _torch_decode(model: ImageVAE, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.decode(torch.from_numpy(z)[None])[0].numpy().transpose(1, 2, 0)


@settings(deadline=None, max_examples=12)
@given(layout=st.sampled_from([(3, 16), (4, 16), (3, 8)]), kind=st.sampled_from(["relu", "gdn"]),
       seed=st.integers(0, 2**16), h=st.integers(1, 3), w=st.integers(1, 3))
def test_numpy_network_equals_the_torch_model(layout, kind, seed, h, w):
    config = VAEConfig(hidden=8, latent=4, nonlinearity=kind, layers=layout[0], stride=layout[1])
    model = _random_model(config, seed)
    net, meta = load_network(save_vae(model, {"seed": seed}))
    assert meta["info"] == {"seed": seed} and net.stride == layout[1]
    rng = np.random.default_rng(seed)
    x = rng.random((h * DOWNSAMPLING, w * DOWNSAMPLING, 3), dtype=np.float32)
    mean, std = net.encode(x)
    ref_mean, ref_std = _torch_encode(model, x)
    k = DOWNSAMPLING // layout[1]
    assert mean.shape == ref_mean.shape == (4, k * h, k * w) and mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-4, atol=1e-6)
    z = rng.standard_normal((4, k * h, k * w), dtype=np.float32)
    out = net.decode(z)
    assert out.shape == (h * DOWNSAMPLING, w * DOWNSAMPLING, 3)
    np.testing.assert_allclose(out, _torch_decode(model, z), rtol=1e-4, atol=1e-5)


def test_banded_convolutions_equal_one_band(monkeypatch):
    """Bands of rows (bounded temporaries) give the same result as one band holding every row."""
    net = load_network(load_asset(VAE_REF))[0]
    rng = np.random.default_rng(1)
    x = rng.random((96, 64, 3), dtype=np.float32)
    z = rng.standard_normal((net.config.latent, 6, 4), dtype=np.float32)
    whole = net.encode(x), net.decode(z)
    monkeypatch.setattr(network, "BAND_BYTES", 1)  # one row per band
    banded = net.encode(x), net.decode(z)
    for a, b in zip(whole[0] + (whole[1],), banded[0] + (banded[1],)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # BLAS sums in another order


def test_shipped_network_matches_the_shipped_torch_model():
    data = load_asset(VAE_REF)
    net, model = load_network(data)[0], load_vae(data)[0]
    x = np.random.default_rng(2).random((64, 80, 3), dtype=np.float32)
    mean, std = net.encode(x)
    ref_mean, ref_std = _torch_encode(model, x)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(net.decode(mean), _torch_decode(model, mean), rtol=1e-4, atol=1e-5)


def test_weights_that_do_not_fit_the_architecture_are_refused():
    config, state, _ = read_vae(load_asset(VAE_REF))
    model = ImageVAE(config)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    data = save_vae(model, {})
    header_len = int.from_bytes(data[:8], "little")
    bad = data.replace(f'hidden\\": {config.hidden}'.encode(), f'hidden\\": {config.hidden // 2:<{len(str(config.hidden))}}'.encode(), 1)
    assert bad != data and bad[8 + header_len:] == data[8 + header_len:]
    with pytest.raises(AssetError, match="do not fit their architecture"):
        load_network(bad)
    with pytest.raises(AssetError, match="unreadable"):
        load_network(data[: len(data) // 2])


def test_the_codec_runs_without_importing_torch(tmp_path):
    """Compress and decompress in a fresh process; torch must never be imported (start-up time)."""
    code = """
import sys
import numpy as np
from codecframe_vbq.image.codec import ImageCodec
image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
decoded, _ = ImageCodec.decode(ImageCodec().encode(image, 1.0).data)
assert decoded.shape == image.shape
print("torch" in sys.modules)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


@settings(deadline=None, max_examples=10)
@given(layout=st.sampled_from([(3, 16), (4, 16), (3, 8)]), seed=st.integers(0, 2**16), h=st.integers(1, 70),
       w=st.integers(1, 70), tile=st.sampled_from([1, 200_000, 2_000_000]))
def test_tiles_cover_the_image_and_agree_with_one_pass(layout, seed, h, w, tile):
    """Tiles with their halo give the one-pass result (up to BLAS summation order) for any shape."""
    config = VAEConfig(layers=layout[0], stride=layout[1], hidden=8, latent=4)
    net = network.VAENetwork(config, {k: v.numpy() for k, v in _random_model(config, seed).state_dict().items()})
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    one = net.encode_image(image, tile_bytes=1 << 40)
    tiled = net.encode_image(image, tile_bytes=tile)
    for a, b in zip(one, tiled):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    s = net.stride
    padded = np.pad(image, ((0, -h % s), (0, -w % s), (0, 0)), mode="edge").astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(one[0], net.encode(padded)[0])  # one tile: exactly the plain pass
    for grey in (False, True):
        whole = net.decode_image(one[0], (h, w), grey, tile_bytes=1 << 40)
        parts = net.decode_image(one[0], (h, w), grey, tile_bytes=tile)
        assert whole.shape == parts.shape == ((h, w) if grey else (h, w, 3))
        assert np.abs(whole.astype(int) - parts.astype(int)).max() <= 1
    x = net.decode(one[0])[:h, :w]
    assert np.array_equal(net.decode_image(one[0], (h, w), tile_bytes=1 << 40),
                          np.clip(np.rint(x * np.float32(255)), 0, 255).astype(np.uint8))


def test_decoding_a_very_wide_image_is_memory_bounded():
    """A 1×2^16 image in tiles of 8 MiB: the peak stays near one tile plus the output (tracemalloc)."""
    import tracemalloc

    net = load_network(load_asset(VAE_REF))[0]
    z = np.random.default_rng(0).standard_normal((net.config.latent, 1, 1 << 12)).astype(np.float32)
    tracemalloc.start()
    out = net.decode_image(z, (1, 1 << 16), tile_bytes=8 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == (1, 1 << 16, 3)
    assert peak < (8 << 20) + out.nbytes + z.nbytes, peak  # one pass: about 16 × 2^16 × 90 KB / 256 = 370 MB


_RSS = """
import sys
from codecframe.cli.main import main
code = main(sys.argv[1:])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(code, int(hwm.split()[1]) // 1024)  # this process image's peak (ru_maxrss would include the parent's at exec)
"""


def _cli_rss_mib(*args: str) -> int:
    """Peak RSS (MiB, VmHWM) of a fresh process running ``codecframe ARGS`` (must succeed)."""
    res = subprocess.run([sys.executable, "-c", _RSS, *args], capture_output=True, text=True, check=True)
    code, rss = res.stdout.split()[-2:]
    assert code == "0", res.stderr
    return int(rss)


def _wide_png(path, width: int) -> None:
    from PIL import Image

    x = np.arange(width)
    Image.fromarray(np.stack([(x * 7) % 256, (x // 3) % 256, (x // 1000) % 256], -1).astype(np.uint8)[None]).save(path)


def test_image_decompress_of_a_1x2_18_image_stays_under_512_mib(tmp_path):
    """Issue 17/19 B2 (small version): one pass took 719 MB of RSS for this file; tiles take about 345 MB."""
    from codecframe_vbq.image.codec import ImageCodec
    from codecframe_vbq.image.files import read_image

    _wide_png(tmp_path / "w.png", 1 << 18)
    (tmp_path / "w.cfr").write_bytes(ImageCodec().encode(read_image(tmp_path / "w.png")[0], 8.0).data)
    assert _cli_rss_mib("image", "decompress", str(tmp_path / "w.cfr"), "-o", str(tmp_path / "o.png")) < 512


@pytest.mark.slow
def test_a_1x2_22_image_compresses_within_1_gib_and_decompresses_within_512_mib(tmp_path):
    """Issue 17 item 7 / 19 B2: 1×2^22 pixels took 8.8 GB to decompress; measured with tiles: compress
    549 MiB, decompress 390 MiB (benchmarks/vbq/memory_bound.py)."""
    _wide_png(tmp_path / "w.png", 1 << 22)
    assert _cli_rss_mib("image", "compress", str(tmp_path / "w.png"), "-o", str(tmp_path / "w.cfr")) < 1024
    assert _cli_rss_mib("image", "decompress", str(tmp_path / "w.cfr"), "-o", str(tmp_path / "o.png")) < 512


# ---------------------------------------------------------------- training variants (issue 17 item 3)
@settings(max_examples=12, deadline=None)
@given(stride=st.sampled_from([8, 16]), up=st.sampled_from(["transposed", "pixelshuffle", "resize"]),
       kind=st.sampled_from(["gdn", "relu"]), h=st.integers(1, 3), w=st.integers(1, 3))
def test_every_variant_scales_by_its_stride(stride, up, kind, h, w):
    torch.manual_seed(0)
    model = ImageVAE(VAEConfig(hidden=8, latent=4, nonlinearity=kind, stride=stride, upsampling=up))
    x = torch.rand(2, 3, 16 * h, 16 * w)
    mean, std = model.encode(x)
    assert mean.shape == std.shape == (2, 4, 16 * h // stride, 16 * w // stride)
    assert model.decode(mean).shape == x.shape
    loss, parts = model.loss(x)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())


def test_variant_weights_round_trip_and_the_codec_network_refuses_them():
    torch.manual_seed(0)
    model = ImageVAE(VAEConfig(hidden=8, latent=4, stride=8, upsampling="pixelshuffle"))
    data = save_vae(model, {})
    assert read_vae(data)[0] == model.config
    loaded, _ = load_vae(data)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(AssetError, match="not pixelshuffle upsampling"):
        load_network(data)


def test_configs_at_the_later_defaults_serialise_as_before():
    """Fields added for the variants are left out at their defaults, so shipped weights re-export byte for byte."""
    assert set(VAEConfig().to_dict()) == {"hidden", "latent", "nonlinearity", "likelihood_variance",
                                         "init_log_std", "layers"}
    assert VAEConfig(stride=8).to_dict()["stride"] == 8 and "upsampling" not in VAEConfig(stride=8).to_dict()
    assert VAEConfig(**VAEConfig(upsampling="resize").to_dict()) == VAEConfig(upsampling="resize")
    config, state, meta = read_vae(load_asset(VAE_REF))
    model = ImageVAE(config)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    assert save_vae(model, meta["info"]) == load_asset(VAE_REF)


@pytest.mark.parametrize("bad", [dict(stride=4), dict(stride=8, layers=4), dict(upsampling="bilinear")])
def test_unknown_variants_are_refused(bad):
    with pytest.raises(ValueError):
        ImageVAE(VAEConfig(hidden=8, latent=4, **bad))
