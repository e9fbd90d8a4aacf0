"""The shipped checkpoint on each test set: MSE, PSNR, perplexity, utilization, file bits per index model → JSON.

    .venv/bin/python benchmarks/gmvq/shipped.py --out benchmarks/gmvq/shipped.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from codecframe_gmvq import data
from codecframe_gmvq.posterior import CategoricalPosterior
from codecframe_gmvq.tokenizer import Tokenizer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("shipped.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    tok = Tokenizer.load()
    rows = []
    for name in ("mixed", "digits", "photos"):
        _, test = data.load(name)
        logits = tok.logits(test)
        idx = CategoricalPosterior(logits=logits).point()
        rec = tok.decode(idx)
        mse = float(np.mean((rec - test) ** 2))
        counts = np.bincount(idx.ravel(), minlength=tok.codebook_size)
        p = counts[counts > 0] / counts.sum()
        row = {
            "test_set": name,
            "images": len(test),
            "mse_e3": mse * 1e3,
            "psnr_db": 10 * math.log10(1 / mse),
            "perplexity": float(np.exp(-(p * np.log(p)).sum())),
            "utilization": float((counts > 0).mean()),
            "empirical_entropy_bits": float(-(p * np.log2(p)).sum()),
            "posterior_entropy": float(CategoricalPosterior(logits=logits).entropy().mean()),
        }
        for model in ("usage", "fitted", "uniform"):
            blob = tok.compress(test, index_model=model)
            assert np.array_equal(tok.decompress_indices(blob), idx)
            row[f"file_bits_per_token_{model}"] = 8 * len(blob) / idx.size
        rows.append(row)
        print(json.dumps(row), flush=True)
    report = {"command": "benchmarks/gmvq/shipped.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "checkpoint": tok.ref, "rows": rows}
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
