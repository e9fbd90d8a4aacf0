"""Which rule sets BayesQ's posterior scale per budget, measured on training inputs outside the
calibration set (never the test set): all three bundled models at 2.5/3.0/3.5/4.0 bits.

    .venv/bin/python benchmarks/bayesq/scale_rule.py --out benchmarks/bayesq/scale_rule.json

Each layer's posterior is rescaled so that its median std is ``scale`` × the min–max step of the
layer at the reference width; the scales recorded here are relative to the step at ``avg_bits``
(``quantize`` now takes them relative to ``ceil(avg_bits)``, the rule this chose). Rules compared: ``avg`` (the reference width is ``avg_bits``, scale 1:
the default before), ``avg, 0.5 below 3 bits``, and ``ceil`` (the reference width is
``ceil(avg_bits)``, scale 1, i.e. scale ``(2^avg - 1)/(2^ceil(avg) - 1)`` relative to ``avg``).
Criterion: geometric mean over (model, budget) of the validation KL relative to the best scale of
the grid for that case (the criterion that chose scale 1.0 in ``tune.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from codecframe_bayesq.api import quantize
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.metrics import evaluate, log_probs
from validation import avg_to_ceil, split, write

BUDGETS = (2.5, 3.0, 3.5, 4.0)


def rules(budget: float) -> dict[str, float]:
    """The scale (relative to the min–max step at ``avg_bits``) each rule uses at ``budget``."""
    ceil = (2.0 ** budget - 1.0) / (2.0 ** math.ceil(budget) - 1.0)
    return {"avg": 1.0, "avg, 0.5 below 3 bits": 0.5 if budget < 3 else 1.0, "ceil": ceil}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.5,0.75,1.0")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in ("mlp", "cnn", "tinylm"):
        ex = load_example(name)
        calib, xv, yv = split(name, ex)
        ref = log_probs(ex.model, xv)
        for budget in BUDGETS:
            scales = sorted({float(s) for s in args.scales.split(",")} | set(rules(budget).values()))
            for scale in scales:
                qm = quantize(ex.model, calib, budget, posterior_scale=scale * avg_to_ceil(budget))
                rows.append({"model": name, "budget": budget, "scale": scale,
                             "valid_kl": evaluate(qm.model, ref, xv, yv)["kl"]})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    summary = {}
    for rule in rules(3.0):
        excess = []
        for name in ("mlp", "cnn", "tinylm"):
            for budget in BUDGETS:
                case = [r for r in rows if r["model"] == name and r["budget"] == budget]
                best = min(r["valid_kl"] for r in case)
                chosen = next(r for r in case if r["scale"] == rules(budget)[rule])
                excess.append(chosen["valid_kl"] / best)
        summary[rule] = {"geomean_excess": float(np.exp(np.mean(np.log(excess)))), "worst_excess": float(max(excess))}
    write(args.out, rows, rules=summary)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
