"""The image codec's R–D evaluation on the held-out images, every method in one run.

Writes the raw points and summary (JSON), the tables (Markdown) and the plot (PNG).

    python benchmarks/vbq/rd.py --out benchmarks/vbq/rd.json --plot docs/vbq-rd.png

``--no-length-correction`` refits the shipped VAE's tables with raw lengths n (one pass, the shipped
σ calibration and grid) and runs VBQ without the second pass (the ablation of the paper's length-overhead
correction).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.calibration import fit_calibrated_tables
from codecframe_vbq.image.evaluate import evaluate, training_latents
from codecframe_vbq.quantizer import use_tables
from codecframe_vbq.image.report import markdown, plot, summarize


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/rd.json"))
    ap.add_argument("--plot", type=Path, default=Path("docs/vbq-rd.png"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-length-correction", action="store_true")
    ap.add_argument("--methods", nargs="+", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = open("/proc/loadavg").read().split()[:3]
    t0 = time.perf_counter()
    codec = ImageCodec()
    if args.no_length_correction:
        tables = codec.quantizer.tables
        means, stds = training_latents(codec)
        refit = fit_calibrated_tables(means, stds, codec.quantizer.calibration, tables.lambdas, tables.r_max,
                                      tables.backoff_shift, {"ablation": "no length correction"}, length_correction=False,
                                      prior_span=tables.info.get("prior_span", "quantile"),
                                      prior_power=tables.info.get("prior_power", 1.0))
        codec = ImageCodec(codec.vae_ref, use_tables(refit), quantizer_options={"length_correction": False})
    result = evaluate(codec, methods=args.methods, log=lambda s: print(s, file=sys.stderr, flush=True))
    args.out.write_text(json.dumps(result))  # the raw points survive a failure in the summary
    summary = summarize(result)
    result.update(summary=summary, loadavg_before=load_before, loadavg_after=open("/proc/loadavg").read().split()[:3],
                  wall_s=time.perf_counter() - t0, torch_threads=args.threads, machine=platform.machine(),
                  command="python benchmarks/vbq/rd.py " + " ".join(sys.argv[1:]))
    args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result, summary))
    plot(result, args.plot)
    print(markdown(result, summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
