"""Choose α of the σ calibration σ_eff = s_c·(σ/s_c)^α and the power β of the flattened grid prior
p^β on the VALIDATION image only.

For each α, the VBQ tables are refitted (with the prior span and power of the shipped tables) on the training latents with σ_eff (as the shipped build
does) and VBQ is run over the R–D sweep on the validation image (motorcycle_right), beside the two
uniform baselines fitted on the training latents. The chosen α minimises VBQ's BD-rate (PSNR)
against the global-step uniform baseline on that image; likewise for each β (with the shipped α
and span). The test images are not touched.

Also measured (not candidates of the rule, for the docs' diagnosis): the per-channel decoder
sensitivity h_c = E‖∂g/∂z_i‖² on the training latents (central 256×256 crops, Hutchinson estimate
with two random-sign tangents per channel, torch.func.jvp), its log-log slope against s_c, and VBQ
with σ_eff = h_c^(-1/2) (scaled to the geometric mean of s_c) in place of s_c; and α = 0 with the
shipped power and the other prior span (``prior.empirical_points``: "quantile", the paper's grid, or "full").

    python benchmarks/vbq/calibrate.py --out benchmarks/vbq/calibrate.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.evaluate import (DEFAULT_SWEEPS, _codebook_points, _codebook_quantizers, _vbq_points,
                                           training_latents, variant_codec)
from codecframe_vbq import baselines as bl
from codecframe_vbq.calibration import SigmaCalibration, fit_calibrated_tables
from codecframe_vbq.quantizer import use_tables
from codecframe_vbq.image.metrics import bd_rate
from codecframe_vbq.image.report import _curve, _dominance

ALPHAS = (-0.25, 0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)
POWERS = (0.0, 0.2, 0.35, 0.5, 0.75, 1.0)


def channel_sensitivity(codec: ImageCodec, crop: int = 256, samples: int = 2, seed: int = 0) -> np.ndarray:
    """Mean squared norm of the decoder's Jacobian column per latent channel, over the training images."""
    rng = np.random.default_rng(seed)
    total, count = None, 0
    for img in data.load_split(data.TRAIN):
        h, w = min(img.shape[0] // 16 * 16, crop), min(img.shape[1] // 16 * 16, crop)
        y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
        z = torch.from_numpy(codec.posterior(np.ascontiguousarray(img[y:y + h, x:x + w])).mean[None])
        channels, n = z.shape[1], z[0, 0].numel()
        sens = np.zeros(channels)
        for c in range(channels):
            for _ in range(samples):
                v = torch.zeros_like(z)
                v[0, c] = torch.from_numpy(rng.choice([-1.0, 1.0], size=z.shape[2:]).astype(np.float32))
                _, jv = torch.func.jvp(codec.model.decode, (z,), (v,))
                sens[c] += float((jv.detach().double() ** 2).sum()) / n / samples
        total = sens if total is None else total + sens
        count += 1
    return total / count


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/calibrate.json"))
    ap.add_argument("--alphas", type=float, nargs="+", default=ALPHAS)
    ap.add_argument("--powers", type=float, nargs="+", default=POWERS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_before = open("/proc/loadavg").read().split()[:3]
    t0 = time.perf_counter()
    codec = ImageCodec()
    mu, sd = training_latents(codec)
    (name,) = data.VALIDATION
    image = data.load(name)
    post = codec.posterior(image)
    points = []
    for method, make in (("uniform-step", lambda d: bl.uniform_step_codebooks(mu, d)),
                         ("uniform-range", lambda L: bl.uniform_range_codebooks(mu, int(L)))):
        points += _codebook_points(method, codec, name, image, post,
                                   _codebook_quantizers(method, make, DEFAULT_SWEEPS[method], mu))
    for alpha in args.alphas:
        t1 = time.perf_counter()
        vc = variant_codec(codec, mu, sd, alpha)
        points += _vbq_points(f"alpha={alpha:g}", vc, name, image, post, DEFAULT_SWEEPS["vbq"])
        print(f"alpha {alpha:g}: {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    base = codec.quantizer.tables
    span, power = base.info.get("prior_span", "quantile"), base.info.get("prior_power", 1.0)
    shipped = codec.quantizer.calibration
    for beta in args.powers:
        t1 = time.perf_counter()
        tables = fit_calibrated_tables(mu, sd, shipped, base.lambdas, 10, base.backoff_shift,
                                       {"variant": f"prior power {beta:g}"}, prior_span=span, prior_power=beta)
        points += _vbq_points(f"power={beta:g}", ImageCodec(codec.vae_ref, use_tables(tables)),
                              name, image, post, DEFAULT_SWEEPS["vbq"])
        print(f"power {beta:g}: {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    s_c = sd.mean(axis=1)
    h_c = channel_sensitivity(codec)
    slope, _ = np.polyfit(np.log(s_c), np.log(h_c), 1)
    scale = h_c ** -0.5 * np.exp(np.log(s_c).mean() - np.log(h_c ** -0.5).mean())
    sens_cal = SigmaCalibration(0.0, tuple(float(v) for v in scale))
    tables = fit_calibrated_tables(mu, sd, sens_cal, base.lambdas, 10, base.backoff_shift,
                                   {"variant": "decoder sensitivity"}, prior_span=span, prior_power=power)
    points += _vbq_points("sensitivity", ImageCodec(codec.vae_ref, use_tables(tables)),
                          name, image, post, DEFAULT_SWEEPS["vbq"])
    other_span = "quantile" if span == "full" else "full"
    cal0 = SigmaCalibration.from_training(sd, 0.0)
    tables = fit_calibrated_tables(mu, sd, cal0, base.lambdas, 10, base.backoff_shift,
                                   {"variant": f"prior span {other_span}"}, prior_span=other_span, prior_power=power)
    points += _vbq_points(f"alpha=0 span={other_span}", ImageCodec(codec.vae_ref, use_tables(tables)),
                          name, image, post, DEFAULT_SWEEPS["vbq"])
    pts = [p.__dict__ for p in points]
    rows = {}
    for m in ([f"alpha={a:g}" for a in args.alphas] + [f"power={b:g}" for b in args.powers]
              + ["sensitivity", f"alpha=0 span={other_span}"]):
        r1, q1 = _curve(pts, m, name)
        row = {}
        for other in ("uniform-step", "uniform-range", "alpha=0", "alpha=1", "power=1"):
            if other == m or other not in {p["method"] for p in pts}:
                continue
            r0, q0 = _curve(pts, other, name)
            row[f"bd_rate_vs_{other}"] = bd_rate(r0, q0, r1, q1)
            row[f"margin_vs_{other}"] = _dominance(pts, name, m, other)
        rows[m] = row
    best = min(args.alphas, key=lambda a: rows[f"alpha={a:g}"]["bd_rate_vs_uniform-step"])
    best_power = min(args.powers, key=lambda b: rows[f"power={b:g}"]["bd_rate_vs_uniform-step"])
    result = {"validation_image": name, "alphas": list(args.alphas), "criterion":
              "min BD-rate (PSNR) of VBQ vs the global-step uniform baseline on the validation image",
              "prior_span": span, "prior_power": power, "chosen_alpha": best, "chosen_power": best_power, "rows": rows, "channel_mean_sigma": s_c.tolist(), "channel_sensitivity": h_c.tolist(),
              "sensitivity_loglog_slope": float(slope),
              "sensitivity_loglog_corr": float(np.corrcoef(np.log(s_c), np.log(h_c))[0, 1]), "points": pts, "wall_s": time.perf_counter() - t0,
              "loadavg_before": load_before, "loadavg_after": open("/proc/loadavg").read().split()[:3],
              "torch_threads": 1, "command": "python benchmarks/vbq/calibrate.py " + " ".join(sys.argv[1:])}
    args.out.write_text(json.dumps(result, indent=1))
    for a, row in rows.items():
        cells = [f"{k[11:]} {v:+.1f} %" for k, v in row.items() if k.startswith("bd_rate") and v is not None]
        margins = [f"{k[10:]} {v['min_margin_db']:+.2f} dB@{v['at_bpp']:.3f}" for k, v in row.items()
                   if k.startswith("margin") and v]
        print(f"{a}: " + ", ".join(cells) + " | " + ", ".join(margins))
    print(f"log h_c vs log s_c: slope {slope:.2f}, correlation {result['sensitivity_loglog_corr']:.3f}")
    print(f"chosen α = {best:g}, chosen power = {best_power:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
