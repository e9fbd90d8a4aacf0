"""PSNR, MS-SSIM (checked against scikit-image's SSIM at the finest scale) and BD-rate."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from hypothesis import given, settings, strategies as st

from codecframe_vbq.image.metrics import bd_rate, bd_rate_between, ms_ssim, pareto, psnr, ssim_terms

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


@settings(deadline=None, max_examples=50)
@given(factor=st.floats(0.3, 3.0), lo=st.floats(0.05, 0.4), width=st.floats(0.1, 1.0), n=st.integers(3, 20))
def test_bd_rate_between_recovers_a_constant_rate_factor(factor, lo, width, n):
    """B = A with every rate scaled by ``factor``: the range BD-rate is (factor - 1) · 100 % on any range."""
    rate = np.exp(np.linspace(np.log(0.02), np.log(3.0), n))
    quality = 20 + 6 * np.log2(rate) + 0.3 * np.sin(rate)
    got = bd_rate_between(rate, quality, rate * factor, quality, lo, lo + width)
    assert got is not None and abs(got - (factor - 1) * 100) < 1e-6 * max(1, abs(got))
    assert bd_rate_between(rate, quality, rate, quality, lo, lo + width) == pytest.approx(0, abs=1e-9)


def test_bd_rate_between_uses_pareto_frontiers_and_refuses_disjoint_ranges():
    rate, quality = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([25.0, 27.0, 26.0, 29.0, 30.0])
    assert pareto(rate, quality)[0].tolist() == [0.1, 0.2, 0.4, 0.5]  # 0.3 bpp is beaten by 0.2
    assert bd_rate_between(rate, quality, rate, quality, 2.0, 3.0) is None  # A never reaches the range
    assert bd_rate_between(rate, quality, rate, quality + 100, 0.1, 0.5) is None  # no common quality
