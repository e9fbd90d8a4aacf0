"""PSNR, MS-SSIM (checked against scikit-image's SSIM at the finest scale) and BD-rate."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from codecframe_vbq.image.metrics import bd_rate, ms_ssim, psnr, ssim_terms

pytestmark = pytest.mark.nojit


def _pair(seed=0, size=(200, 190)):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_psnr():
    a, _ = _pair()
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 * a.size))


def test_single_scale_ssim_matches_scikit_image():
    a, b = _pair(1)
    ours, _ = ssim_terms(a[:, :, 0].astype(np.float64), b[:, :, 0].astype(np.float64))
    ref = structural_similarity(a[:, :, 0], b[:, :, 0], gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=255)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_ms_ssim_bounds_and_size_limit():
    a, b = _pair(2, (180, 200))
    assert ms_ssim(a, a) == pytest.approx(1.0)
    assert 0 < ms_ssim(a, b) < 1
    assert ms_ssim(a[:175], b[:175]) is None


def test_bd_rate():
    q = np.array([25.0, 28.0, 31.0, 34.0, 37.0])
    rate = np.exp(q / 6.0)
    assert bd_rate(rate, q, rate, q) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(rate, q, rate / 2, q) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(rate[:3], q[:3], rate, q) is None
    assert bd_rate(rate, q, rate, q + 100) is None
