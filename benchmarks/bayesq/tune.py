"""Choice of the default posterior scale, measured on training inputs outside the calibration set (never the test set).

    .venv/bin/python benchmarks/bayesq/tune.py --out benchmarks/bayesq/tune.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from codecframe_bayesq.api import quantize
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.metrics import evaluate, log_probs
from validation import avg_to_ceil, split, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.25,0.5,1.0")
    parser.add_argument("--budgets", default="2.5,3.0,4.0")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in ("mlp", "cnn"):
        ex = load_example(name)
        calib, valid, targets = split(name, ex)
        ref = log_probs(ex.model, valid)
        for budget in (float(b) for b in args.budgets.split(",")):
            for scale in (float(s) for s in args.scales.split(",")):
                for codebook in ("grid", "lloyd"):
                    # scales relative to the min–max step at avg_bits (quantize's reference is ceil(avg_bits))
                    qm = quantize(ex.model, calib, budget, codebook=codebook, posterior_scale=scale * avg_to_ceil(budget))
                    kl = evaluate(qm.model, ref, valid, targets)["kl"]
                    rows.append({"model": name, "budget": budget, "scale": scale, "codebook": codebook, "valid_kl": kl})
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    write(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
