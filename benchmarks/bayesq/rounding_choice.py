"""How the default rounding and codebook were chosen: KL(fp ‖ q) on validation data (training
inputs outside the calibration set, never the test set) for the bundled models at 3 and 4 bits.

    .venv/bin/python benchmarks/bayesq/rounding_choice.py --out benchmarks/bayesq/rounding_choice.json

Candidates: GPTQ (the baseline to beat), BayesQ with nearest rounding on the searched grids (the
issue-5 default), and GPTQ rounding (Hessians from the posterior pass) after an allocation on the
searched grids' or on the min–max grids' posterior-expected distortions, and with Hessians
recomputed per layer. The all-MiniLM-L6-v2 validation figures are in ``minilm.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from codecframe_bayesq.api import quantize
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.metrics import log_probs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validation import split, write  # noqa: E402

CANDIDATES = {
    "gptq": {"method": "gptq"},
    "nearest+grid": {"rounding": "nearest", "codebook": "grid"},
    "gptq+grid": {"rounding": "gptq", "codebook": "grid"},
    "gptq+minmax": {"rounding": "gptq", "codebook": "minmax"},
    "gptq-sequential+minmax": {"rounding": "gptq-sequential", "codebook": "minmax"},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in ("mlp", "cnn", "tinylm"):
        ex = load_example(name)
        calib, xv, _ = split(name, ex)
        ref = log_probs(ex.model, xv)
        quantize(ex.model, calib[:16], 3.0)  # warm-up
        for budget in (3.0, 4.0):
            for cand, opts in CANDIDATES.items():
                t0 = time.perf_counter()
                qm = quantize(ex.model, calib, budget, **opts)
                seconds = time.perf_counter() - t0
                lp = log_probs(qm.model, xv)
                kl = float((ref.exp() * (ref - lp)).sum(-1).mean())
                rows.append({"model": name, "budget": budget, "candidate": cand, "kl": kl, "seconds": seconds})
                print(rows[-1], file=sys.stderr, flush=True)
    write(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
