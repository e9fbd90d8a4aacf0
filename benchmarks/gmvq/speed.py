"""Tokenizing speed of the shipped model: 10,000 8×8 images, encode / compress / decompress → JSON.

    .venv/bin/python benchmarks/gmvq/speed.py --threads 2 --out benchmarks/gmvq/speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from codecframe_gmvq import data
from codecframe_gmvq.tokenizer import Tokenizer


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    train, test = data.mixed()
    pool = np.concatenate([train, test])
    images = pool[np.random.default_rng(0).choice(len(pool), args.images, replace=False)]
    tok = Tokenizer.load()
    tok.encode(images[:64])  # warm-up (first call allocates)
    enc, enc_all = timed(lambda: tok.encode(images), args.repeats)
    idx = tok.encode(images)
    dec, dec_all = timed(lambda: tok.decode(idx), args.repeats)
    blob = tok.compress(images)
    comp, comp_all = timed(lambda: tok.compress(images), args.repeats)
    decomp, decomp_all = timed(lambda: tok.decompress(blob), args.repeats)
    report = {
        "command": "benchmarks/gmvq/speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "images": args.images,
        "threads": args.threads,
        "loadavg": Path("/proc/loadavg").read_text().strip() if os.path.exists("/proc/loadavg") else None,
        "encode_s": enc, "decode_s": dec, "compress_s": comp, "decompress_s": decomp,
        "all_runs": {"encode": enc_all, "decode": dec_all, "compress": comp_all, "decompress": decomp_all},
        "file_bytes": len(blob),
        "bits_per_token": 8 * len(blob) / idx.size,
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "all_runs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
