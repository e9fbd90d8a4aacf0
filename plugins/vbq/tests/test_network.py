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
@given(layers=st.sampled_from([3, 4]), kind=st.sampled_from(["relu", "gdn"]), seed=st.integers(0, 2**16),
       h=st.integers(1, 3), w=st.integers(1, 3))
def test_numpy_network_equals_the_torch_model(layers, kind, seed, h, w):
    config = VAEConfig(hidden=8, latent=4, nonlinearity=kind, layers=layers)
    model = _random_model(config, seed)
    net, meta = load_network(save_vae(model, {"seed": seed}))
    assert meta["info"] == {"seed": seed}
    rng = np.random.default_rng(seed)
    x = rng.random((h * DOWNSAMPLING, w * DOWNSAMPLING, 3), dtype=np.float32)
    mean, std = net.encode(x)
    ref_mean, ref_std = _torch_encode(model, x)
    assert mean.shape == ref_mean.shape == (4, h, w) and mean.dtype == std.dtype == np.float32
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(std, ref_std, rtol=1e-4, atol=1e-6)
    z = rng.standard_normal((4, h, w), dtype=np.float32)
    out = net.decode(z)
    assert out.shape == (h * DOWNSAMPLING, w * DOWNSAMPLING, 3)
    np.testing.assert_allclose(out, _torch_decode(model, z), rtol=1e-4, atol=1e-5)


def test_banded_convolutions_equal_one_band(monkeypatch):
    """Bands of rows (bounded temporaries) give the same result as one band holding every row."""
    net = load_network(load_asset(VAE_REF))[0]
    rng = np.random.default_rng(1)
    x = rng.random((96, 64, 3), dtype=np.float32)
    z = rng.standard_normal((32, 6, 4), dtype=np.float32)
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
    bad = data.replace(b'hidden\\": 64', b'hidden\\": 32', 1)
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
