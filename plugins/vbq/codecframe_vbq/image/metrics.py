"""Image quality metrics on uint8 RGB: PSNR and 5-scale MS-SSIM, and the Bjøntegaard delta rate.

MS-SSIM follows Wang, Simoncelli & Bovik (2003) as in TensorFlow's ``ssim_multiscale``: 11×11
Gaussian window (σ = 1.5) over the valid region, K1 = 0.01, K2 = 0.03, L = 255, weights
(0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2×2 average pooling between scales, contrast-structure
terms at every scale and the luminance term at the coarsest; computed per RGB channel and averaged.
It needs at least 176 pixels per side (11·2⁴); smaller images give None.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

__all__ = ["psnr", "ssim_terms", "ms_ssim", "bd_rate", "bd_rate_between", "bd_quality_interval", "pareto", "MS_SSIM_WEIGHTS"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_RADIUS = 5
_KERNEL = np.exp(-0.5 * (np.arange(-_RADIUS, _RADIUS + 1) / 1.5) ** 2)
_KERNEL /= _KERNEL.sum()


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB (peak 255) over all pixels and channels of two uint8 images."""
    diff = reference.astype(np.float64) - test.astype(np.float64)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _blur(x: np.ndarray) -> np.ndarray:
    y = correlate1d(correlate1d(x, _KERNEL, axis=0, mode="reflect"), _KERNEL, axis=1, mode="reflect")
    return y[_RADIUS:-_RADIUS, _RADIUS:-_RADIUS]


def ssim_terms(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term of two 2-D float images (peak 255), valid region."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _blur(a), _blur(b)
    var_a = _blur(a * a) - mu_a**2
    var_b = _blur(b * b) - mu_b**2
    cov = _blur(a * b) - mu_a * mu_b
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
    return float(np.mean(lum * cs)), float(np.mean(cs))


def ms_ssim(reference: np.ndarray, test: np.ndarray) -> float | None:
    """5-scale MS-SSIM of two uint8 (H, W, 3) images, or None below 176 pixels per side."""
    scales = len(MS_SSIM_WEIGHTS)
    if min(reference.shape[:2]) < (2 * _RADIUS + 1) * 2 ** (scales - 1):
        return None
    values = []
    for ch in range(reference.shape[2]):
        a, b = reference[:, :, ch].astype(np.float64), test[:, :, ch].astype(np.float64)
        prod = 1.0
        for s, weight in enumerate(MS_SSIM_WEIGHTS):
            ssim, cs = ssim_terms(a, b)
            if s == scales - 1:
                prod *= max(ssim, 0.0) ** weight
            else:
                prod *= max(cs, 0.0) ** weight
                h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
                a = a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
                b = b[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        values.append(prod)
    return float(np.mean(values))


def bd_rate(rate_a, quality_a, rate_b, quality_b) -> float | None:
    """Bjøntegaard delta rate of curve B against curve A, in percent (negative: B needs fewer bits).

    Cubic fits of log(rate) against quality, integrated over the overlap of the quality ranges.
    None if a curve has fewer than four points or the ranges do not overlap.
    """
    ra, qa, rb, qb = (np.asarray(v, np.float64) for v in (rate_a, quality_a, rate_b, quality_b))
    if min(ra.size, rb.size) < 4:
        return None
    lo, hi = max(qa.min(), qb.min()), min(qa.max(), qb.max())
    if not hi > lo:
        return None
    pa, pb = np.polyfit(qa, np.log(ra), 3), np.polyfit(qb, np.log(rb), 3)
    ia, ib = np.polyint(pa), np.polyint(pb)
    avg = ((np.polyval(ib, hi) - np.polyval(ib, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((np.exp(avg) - 1.0) * 100.0)


def pareto(rate, quality) -> tuple[np.ndarray, np.ndarray]:
    """The points of a curve that no point of lower or equal rate beats in quality, by rate."""
    order = np.lexsort((-np.asarray(quality, np.float64), np.asarray(rate, np.float64)))
    keep_r, keep_q, best = [], [], -np.inf
    for i in order:
        if quality[i] > best:
            keep_r.append(float(rate[i]))
            keep_q.append(float(quality[i]))
            best = quality[i]
    return np.array(keep_r), np.array(keep_q)


def bd_rate_between(rate_a, quality_a, rate_b, quality_b, lo: float, hi: float) -> float | None:
    """BD-rate of curve B against curve A (percent; negative: B needs fewer bits) over A's rates [lo, hi].

    Both curves reduced to their Pareto frontiers; the quality interval is A's quality at ``lo`` and
    ``hi`` (A's frontier linear in log rate, clipped to A's measured rates), intersected with B's
    quality range (:func:`bd_quality_interval`); log rate is interpolated linearly in quality on each
    frontier and its mean difference over that interval (200 samples) is the result. Piecewise-linear
    instead of the cubic fit of :func:`bd_rate`, so it stays meaningful on a sub-range. None if A
    does not reach into [lo, hi] or the quality ranges do not overlap. Like every BD-rate it says
    nothing about qualities only one curve reaches: report the interval with it.
    """
    found = _range_interval(rate_a, quality_a, rate_b, quality_b, lo, hi)
    if found is None:
        return None
    (ra, qa), (rb, qb), (q_lo, q_hi) = found
    q = np.linspace(q_lo, q_hi, 200)
    diff = np.interp(q, qb, np.log(rb)) - np.interp(q, qa, np.log(ra))
    return float((np.exp(diff.mean()) - 1.0) * 100.0)


def bd_quality_interval(rate_a, quality_a, rate_b, quality_b, lo: float, hi: float) -> tuple[float, float] | None:
    """The quality interval :func:`bd_rate_between` averages over (None where it gives None)."""
    found = _range_interval(rate_a, quality_a, rate_b, quality_b, lo, hi)
    return None if found is None else (float(found[2][0]), float(found[2][1]))


def _range_interval(rate_a, quality_a, rate_b, quality_b, lo, hi):
    ra, qa = pareto(np.asarray(rate_a, np.float64), np.asarray(quality_a, np.float64))
    rb, qb = pareto(np.asarray(rate_b, np.float64), np.asarray(quality_b, np.float64))
    if min(ra.size, rb.size) < 2 or not lo < hi:
        return None
    lo, hi = max(lo, ra[0]), min(hi, ra[-1])
    if not lo < hi:
        return None
    q_lo, q_hi = np.interp(np.log([lo, hi]), np.log(ra), qa)
    q_lo, q_hi = max(q_lo, qb[0]), min(q_hi, qb[-1])
    if not q_lo < q_hi:
        return None
    return (ra, qa), (rb, qb), (q_lo, q_hi)
