"""Summaries of an R–D evaluation (:mod:`.evaluate`): BD-rates, target checks, Markdown and a plot.

Curves are compared on their Pareto frontiers (best quality at or below each rate), interpolated
linearly in log(bpp); BD-rates use all points of each curve (cubic fit, :func:`.metrics.bd_rate`)
and, over a stated range of the baseline's rates, piecewise-linear frontiers
(:func:`.metrics.bd_rate_between`). Crossovers: the lowest rate from which a baseline is at least as
good as VBQ.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codecframe.io import atomic_write

from .metrics import bd_quality_interval, bd_rate, bd_rate_between

__all__ = ["summarize", "markdown", "plot", "psnr_at", "BPP_GRID", "BPP_RANGE", "TARGET_BPP"]

#: Default range of the baseline's rates (bpp) of the range BD-rates (the issue's target range).
BPP_RANGE = (0.15, 0.6)
#: Rate (bpp) at which VBQ is compared point-wise with each Pillow codec (issue 17: "at or above
#: JPEG's PSNR at 0.5 bpp").
TARGET_BPP = 0.5
#: Pillow codec methods (:data:`.evaluate.PILLOW_CODECS`), compared at every rate.
_PIXEL_CODECS = ("jpeg", "jpeg-444", "webp", "avif")

#: Rates (bits per pixel) at which the Markdown table reports each method's PSNR.
BPP_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)
LABELS = {
    "vbq": "VBQ (shipped)", "vbq-raw-sigma": "VBQ, raw σ (α = 1)", "vbq-mean-sigma": "VBQ, σ = channel mean (α = 0)", "uniform-range": "uniform, per-channel range (L levels)",
    "uniform-step": "uniform, global step Δ", "kmeans": "k-means per channel", "jpeg": "JPEG 4:2:0 (Pillow)",
    "jpeg-444": "JPEG 4:4:4 (Pillow)", "vbq-previous": "VBQ (--previous model)", "webp": "WebP (Pillow)", "avif": "AVIF (Pillow)",
}


def _curve(points: list[dict], method: str, image: str, metric: str = "psnr", rate: str = "bpp"):
    pts = sorted((p[rate], p[metric]) for p in points if p["method"] == method and p["image"] == image
                 and p[metric] is not None and p[rate] is not None)
    return np.array([r for r, _ in pts]), np.array([q for _, q in pts])


def _db(ms: np.ndarray) -> np.ndarray:
    return -10.0 * np.log10(np.maximum(1.0 - ms, 1e-12))


def _frontier(rates: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep_r, keep_q, best = [], [], -math.inf
    for r, q in zip(rates, quality):
        if q > best:
            keep_r.append(r)
            keep_q.append(q)
            best = q
    return np.array(keep_r), np.array(keep_q)


def _at(curve, bpp: float) -> float | None:
    r, q = _frontier(*curve)
    if r.size == 0 or not r[0] <= bpp <= r[-1]:
        return None
    return float(np.interp(np.log(bpp), np.log(r), q))


def _dominance(points, image, method, other, upper=math.inf, samples=200):
    """Smallest PSNR margin of ``method`` over ``other`` on their common rates (≤ upper), the rate
    where it occurs, and the lowest rate (if any) from which ``other`` is at least as good."""
    a, b = _frontier(*_curve(points, method, image)), _frontier(*_curve(points, other, image))
    if a[0].size == 0 or b[0].size == 0:
        return None
    lo, hi = max(a[0][0], b[0][0]), min(a[0][-1], b[0][-1], upper)
    if not hi > lo:
        return None
    grid = np.clip(np.exp(np.linspace(np.log(lo), np.log(hi), samples)), lo, hi)
    diff = np.array([_at(a, x) - _at(b, x) for x in grid])
    worst = int(np.argmin(diff))
    below = np.flatnonzero(diff <= 0)
    return {"from_bpp": float(lo), "to_bpp": float(hi), "min_margin_db": float(diff[worst]),
            "at_bpp": float(grid[worst]), "other_catches_up_at_bpp": float(grid[below[0]]) if below.size else None}


def psnr_at(points: list[dict], method: str, image: str, bpp: float) -> float | None:
    """PSNR of ``method`` on ``image`` at ``bpp``: its Pareto curve interpolated in log bpp (None outside it)."""
    return _at(_curve(points, method, image), bpp)


def _margin(points, image, other, bpp) -> float | None:
    """PSNR of VBQ minus that of ``other`` at ``bpp`` on ``image`` (None where either does not reach it)."""
    a, b = psnr_at(points, "vbq", image, bpp), psnr_at(points, other, image, bpp)
    return None if a is None or b is None else a - b


def summarize(result: dict, bpp_range: tuple[float, float] = BPP_RANGE) -> dict:
    """BD-rates of VBQ against every method (all rates, and over the baseline's ``bpp_range``), the
    issue's target checks, crossovers and a PSNR table."""
    points, images, methods = result["points"], list(result["images"]), result["methods"]
    others = [m for m in methods if m != "vbq"]
    bd: dict[str, dict] = {}
    for m in others:
        per = {}
        for img in images:
            r0, q0 = _curve(points, m, img)
            r1, q1 = _curve(points, "vbq", img)
            s0, s1 = _curve(points, m, img, "ms_ssim"), _curve(points, "vbq", img, "ms_ssim")
            per[img] = {"psnr": bd_rate(r0, q0, r1, q1),
                        "ms_ssim_db": bd_rate(s0[0], _db(s0[1]), s1[0], _db(s1[1])) if s0[0].size else None}
        vals = [v["psnr"] for v in per.values() if v["psnr"] is not None]
        bd[m] = {"per_image": per, "mean_psnr": float(np.mean(vals)) if vals else None}
    ranged = {}
    for m in others:
        curves = {img: (*_curve(points, m, img), *_curve(points, "vbq", img)) for img in images}
        per = {img: bd_rate_between(*c, *bpp_range) for img, c in curves.items()}
        vals = [v for v in per.values() if v is not None]
        ranged[m] = {"per_image": per, "mean_psnr": float(np.mean(vals)) if vals else None,
                     "psnr_interval": {img: bd_quality_interval(*c, *bpp_range) for img, c in curves.items()}}
    checks: dict[str, dict] = {}
    for m in ("uniform-range", "uniform-step", "vbq-raw-sigma", "vbq-mean-sigma", "kmeans"):
        if m in methods:
            checks[f"vbq_over_{m}"] = {img: _dominance(points, img, "vbq", m) for img in images}
    if "jpeg" in methods:
        checks["vbq_over_jpeg_upto_0.5bpp"] = {img: _dominance(points, img, "vbq", "jpeg", upper=0.5) for img in images}
    for m in _PIXEL_CODECS:
        if m in methods:
            checks[f"vbq_over_{m}_all_rates"] = {img: _dominance(points, img, "vbq", m) for img in images}
    uncertainty = None
    if "vbq-raw-sigma" in methods and "vbq-mean-sigma" in methods:
        per = {img: bd_rate(*_curve(points, "vbq-mean-sigma", img), *_curve(points, "vbq-raw-sigma", img)) for img in images}
        vals = [v for v in per.values() if v is not None]
        uncertainty = {"per_image": per, "mean_psnr": float(np.mean(vals)) if vals else None}
    margin = {m: {img: _margin(points, img, m, TARGET_BPP) for img in images} for m in _PIXEL_CODECS if m in methods}
    overhead = [p["bpp"] / p["bpp_ideal"] - 1 for p in points if p["method"] == "vbq" and p["bpp_ideal"]]
    overhead_float = [p["bpp"] / p["bpp_ideal_float"] - 1 for p in points if p["method"] == "vbq" and p["bpp_ideal_float"]]
    table = {m: {str(b): _mean([_at(_curve(points, m, img), b) for img in images]) for b in BPP_GRID} for m in methods}
    return {"bd_rate_vbq_vs": bd, "bd_rate_vbq_vs_over_range": {"bpp_range": list(bpp_range), "vs": ranged},
            "bd_rate_raw_sigma_vs_mean_sigma": uncertainty, "checks": checks, "psnr_at_bpp": table,
            "margin_at_bpp": {"bpp": TARGET_BPP, "vs": margin},
            "file_vs_ideal": {"max_overhead_vs_integer_model": max(overhead, default=None),
                              "max_overhead_vs_float_model": max(overhead_float, default=None),
                              "min_overhead_vs_float_model": min(overhead_float, default=None)}}


def _mean(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) or not values else float(np.mean(values))


def _fmt(v, spec=".2f") -> str:
    return "–" if v is None else format(v, spec)


def markdown(result: dict, summary: dict) -> str:
    """The R–D table and the checks as Markdown."""
    methods = result["methods"]
    lines = ["| method | " + " | ".join(f"{b:g} bpp" for b in BPP_GRID) + " |",
             "|---|" + "---|" * len(BPP_GRID)]
    for m in methods:
        row = summary["psnr_at_bpp"][m]
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(_fmt(row[str(b)]) for b in BPP_GRID) + " |")
    lines += ["", "Mean PSNR (dB) over " + ", ".join(result["images"]) + " at equal actual file bpp "
              "(each image's Pareto curve interpolated in log bpp; – where a method does not reach that rate on every image).", "",
              "| BD-rate of VBQ against | " + " | ".join(result["images"]) + " | mean (PSNR) |", "|---|" + "---|" * (len(result["images"]) + 1)]
    for m, v in summary["bd_rate_vbq_vs"].items():
        cells = [f"{_fmt(x['psnr'], '+.1f')} % (MS-SSIM {_fmt(x['ms_ssim_db'], '+.1f')} %)" for x in v["per_image"].values()]
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + f" | {_fmt(v['mean_psnr'], '+.1f')} % |")
    ranged = summary.get("bd_rate_vbq_vs_over_range")
    if ranged:
        lo, hi = ranged["bpp_range"]
        lines += ["", f"| BD-rate (PSNR) of VBQ over the other's {lo:g}–{hi:g} bpp, against | "
                  + " | ".join(result["images"]) + " | mean |", "|---|" + "---|" * (len(result["images"]) + 1)]
        for m, v in ranged["vs"].items():
            cells = [f"{_fmt(x, '+.1f')} %" + ("" if q is None else f" ({q[0]:.1f}–{q[1]:.1f} dB)")
                     for x, q in zip(v["per_image"].values(), v["psnr_interval"].values())]
            lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + f" | {_fmt(v['mean_psnr'], '+.1f')} % |")
        lines += ["", "Each range BD-rate averages over the PSNR interval in brackets: the other method's PSNR over "
                  "that rate range, where VBQ also reaches it. Qualities that only one method reaches (above VBQ's "
                  "ceiling) do not enter any BD-rate; the crossovers below show them."]
    unc = summary.get("bd_rate_raw_sigma_vs_mean_sigma")
    if unc:
        lines += ["", "Does uncertainty matter: BD-rate (PSNR) of VBQ with raw σ against VBQ with σ = channel mean: "
                  + ", ".join(f"{img} {_fmt(v, '+.1f')} %" for img, v in unc["per_image"].items())
                  + f"; mean {_fmt(unc['mean_psnr'], '+.1f')} %."]
    lines += ["", "| check (VBQ minus other, PSNR dB, on the common rate range) | " + " | ".join(result["images"]) + " |",
              "|---|" + "---|" * len(result["images"])]
    for name, per in summary["checks"].items():
        cells = []
        for d in per.values():
            if d is None:
                cells.append("no common range")
            else:
                catch = d["other_catches_up_at_bpp"]
                cells.append(f"min {d['min_margin_db']:+.2f} dB at {d['at_bpp']:.3f} bpp "
                             f"({d['from_bpp']:.3f}–{d['to_bpp']:.3f}){'' if catch is None else f'; other ≥ VBQ from {catch:.3f} bpp'}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    at = summary.get("margin_at_bpp")
    if at and at["vs"]:
        lines += ["", f"| VBQ minus other at {at['bpp']:g} bpp (PSNR dB) | " + " | ".join(result["images"])
                  + " | VBQ ≥ other |",
                  "|---|" + "---|" * (len(result["images"]) + 1)]
        for m, per in at["vs"].items():
            wins = sum(v is not None and v >= 0 for v in per.values())
            lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(_fmt(v, "+.2f") for v in per.values())
                         + f" | {wins} of {len(per)} |")
    fv = summary["file_vs_ideal"]
    lines += ["", f"VBQ file size against the ideal code length plus header: at most "
              f"{_fmt(100 * fv['max_overhead_vs_integer_model'] if fv['max_overhead_vs_integer_model'] is not None else None, '+.3f')} % "
              f"(integer model as coded), {_fmt(100 * fv['min_overhead_vs_float_model'] if fv['min_overhead_vs_float_model'] is not None else None, '+.3f')} % to "
              f"{_fmt(100 * fv['max_overhead_vs_float_model'] if fv['max_overhead_vs_float_model'] is not None else None, '+.3f')} % (fitted float model)."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str | Path) -> None:
    """PSNR and MS-SSIM (dB) against actual file bpp, one column per image (PNG written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, points = list(result["images"]), result["points"]
    ncol = min(len(images), 4)
    blocks = -(-len(images) // ncol)
    fig, axes = plt.subplots(2 * blocks, ncol, figsize=(5 * ncol, 4 * 2 * blocks), squeeze=False)
    for k, img in enumerate(images):
        top, col = 2 * (k // ncol), k % ncol
        for m in result["methods"]:
            r, q = _curve(points, m, img)
            axes[top, col].plot(r, q, "o-" if m == "vbq" else ".-", ms=3, label=LABELS.get(m, m), lw=2 if m == "vbq" else 1)
            r, s = _curve(points, m, img, "ms_ssim")
            if r.size:
                axes[top + 1, col].plot(r, _db(s), "o-" if m == "vbq" else ".-", ms=3, lw=2 if m == "vbq" else 1)
        h, w = result["images"][img]
        axes[top, col].set_title(f"{img} ({w}×{h})")
        for row, label in enumerate(("PSNR (dB, uint8 RGB)", "MS-SSIM (dB)")):
            axes[top + row, col].set_xlim(0, 1.5)
            axes[top + row, col].set_xlabel("bits per pixel (actual file size)")
            axes[top + row, col].set_ylabel(label)
            axes[top + row, col].grid(alpha=0.3)
    for k in range(len(images), blocks * ncol):
        axes[2 * (k // ncol), k % ncol].axis("off")
        axes[2 * (k // ncol) + 1, k % ncol].axis("off")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue())
