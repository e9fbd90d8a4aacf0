"""R–D gain and time of encoder-side refinement (``codecframe image compress --refine N``).

For every image (default ``data.TEST``, the first split's held-out images; ``--images`` names
others, e.g. the six held-out photographs of issue 17) and each N: the refined posterior (timed, model already
loaded), then real files over the codec's λ sweep, decoded and scored (PSNR on RGB 8-bit, actual
file sizes); BD-rate (PSNR) of refined against unrefined over all rates (cubic) and over the
unrefined curve's rates in 0.15–0.6 bpp (piecewise linear), and g(μ) of each posterior.

    python benchmarks/vbq/refine.py --out benchmarks/vbq/refine.json --steps 25 100
    python benchmarks/vbq/refine.py --out benchmarks/vbq/refine-v2.json --steps 25 100 \
        --images astronaut coffee chelsea green-meadow storm aqua
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
from codecframe_vbq.image.evaluate import DEFAULT_SWEEPS
from codecframe_vbq.image.metrics import bd_rate, bd_rate_between, psnr


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/refine.json"))
    ap.add_argument("--steps", nargs="+", type=int, default=[25, 100])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", nargs="+", default=list(data.TEST))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = ImageCodec()
    codec.model  # noqa: B018 - load torch and the model before timing
    rows = []
    for name in args.images:
        image = data.load(name)
        curves = {}
        for n in [0, *args.steps]:
            t0 = time.perf_counter()
            post = codec.refined_posterior(image, n)
            seconds = time.perf_counter() - t0
            rate, quality = [], []
            for lam in DEFAULT_SWEEPS["vbq"]:
                blob = codec.encode_posterior(post, image.shape[:2], lam)
                rate.append(8 * len(blob) / (image.shape[0] * image.shape[1]))
                quality.append(psnr(image, ImageCodec.decode(blob)[0]))
            curves[n] = (rate, quality)
            row = {"image": name, "steps": n, "seconds": seconds,
                   "g_mu_psnr": psnr(image, codec.network.decode_image(post.mean, image.shape[:2]))}
            if n:
                row["bd_rate_all"] = bd_rate(*curves[0], rate, quality)
                row["bd_rate_0.15_0.6"] = bd_rate_between(*curves[0], rate, quality, 0.15, 0.6)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    summary = {}
    for n in [0, *args.steps]:
        mine = [r for r in rows if r["steps"] == n]
        summary[n] = {k: float(np.mean([r[k] for r in mine])) for k in mine[0]
                      if k not in ("image", "steps") and all(r[k] is not None for r in mine)}
    args.out.write_text(json.dumps({"rows": rows, "mean": summary, "threads": args.threads,
                                    "loadavg": open("/proc/loadavg").read().split()[:3],
                                    "command": "python benchmarks/vbq/refine.py " + " ".join(sys.argv[1:])}, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
