"""Choose α of the σ calibration σ_eff = s_c·(σ/s_c)^α on the VALIDATION image only.

For each α, the VBQ tables are refitted on the training latents with σ_eff (as the shipped build
does) and VBQ is run over the R–D sweep on the validation image (motorcycle_right), beside the two
uniform baselines fitted on the training latents. The chosen α minimises VBQ's BD-rate (PSNR)
against the global-step uniform baseline on that image. The test images are not touched.

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
from codecframe_vbq.image.metrics import bd_rate
from codecframe_vbq.image.report import _curve, _dominance

ALPHAS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/calibrate.json"))
    ap.add_argument("--alphas", type=float, nargs="+", default=ALPHAS)
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_before = open("/proc/loadavg").read().split()[:3]
    t0 = time.perf_counter()
    codec = ImageCodec(calibration=None)
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
    pts = [p.__dict__ for p in points]
    rows = {}
    for alpha in args.alphas:
        m = f"alpha={alpha:g}"
        r1, q1 = _curve(pts, m, name)
        row = {}
        for other in ("uniform-step", "uniform-range", "alpha=0", "alpha=1"):
            if other == m or other not in {p["method"] for p in pts}:
                continue
            r0, q0 = _curve(pts, other, name)
            row[f"bd_rate_vs_{other}"] = bd_rate(r0, q0, r1, q1)
            row[f"margin_vs_{other}"] = _dominance(pts, name, m, other)
        rows[f"{alpha:g}"] = row
    best = min(args.alphas, key=lambda a: rows[f"{a:g}"]["bd_rate_vs_uniform-step"])
    result = {"validation_image": name, "alphas": list(args.alphas), "criterion":
              "min BD-rate (PSNR) of VBQ vs the global-step uniform baseline on the validation image",
              "chosen_alpha": best, "rows": rows, "points": pts, "wall_s": time.perf_counter() - t0,
              "loadavg_before": load_before, "loadavg_after": open("/proc/loadavg").read().split()[:3],
              "torch_threads": 1, "command": "python benchmarks/vbq/calibrate.py " + " ".join(sys.argv[1:])}
    args.out.write_text(json.dumps(result, indent=1))
    for a, row in rows.items():
        cells = [f"{k[12:]} {v:+.1f} %" for k, v in row.items() if k.startswith("bd_rate") and v is not None]
        margins = [f"{k[10:]} {v['min_margin_db']:+.2f} dB@{v['at_bpp']:.3f}" for k, v in row.items()
                   if k.startswith("margin") and v]
        print(f"α={a}: " + ", ".join(cells) + " | " + ", ".join(margins))
    print(f"chosen α = {best:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
