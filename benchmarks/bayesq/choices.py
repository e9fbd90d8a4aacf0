"""Evidence for BayesQ's measured defaults (damping, relative posterior scale), on training inputs
outside the calibration set (never the test set), MLP and CNN at 3.0 bits.

    .venv/bin/python benchmarks/bayesq/choices.py --out benchmarks/bayesq/choices.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from codecframe_bayesq.api import quantize
from codecframe_bayesq.estimators import DiagLaplaceEstimator
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.metrics import evaluate, log_probs
from validation import split, write

CASES = [
    ("damping 0", {"estimator": {"id": "bayesq-diag", "damping": 0.0}}),
    ("damping 0.1", {"estimator": {"id": "bayesq-diag", "damping": 0.1}}),
    ("damping 1 (default)", {}),
    ("absolute Laplace scale, N=1e4, tau=1, no damping",
     {"posterior_scale": None, "estimator": {"id": "bayesq-diag", "n_data": 10**4, "prior_precision": 1.0, "damping": 0.0}}),
    ("absolute Laplace scale, N=1e8, tau=1, no damping",
     {"posterior_scale": None, "estimator": {"id": "bayesq-diag", "n_data": 10**8, "prior_precision": 1.0, "damping": 0.0}}),
    ("absolute Laplace scale, N=1e12, tau=1, no damping",
     {"posterior_scale": None, "estimator": {"id": "bayesq-diag", "n_data": 10**12, "prior_precision": 1.0, "damping": 0.0}}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in ("mlp", "cnn"):
        ex = load_example(name)
        calib, valid, targets = split(name, ex)
        ref = log_probs(ex.model, valid)
        fisher = DiagLaplaceEstimator(n_data=256, prior_precision=1e-30, damping=0.0).estimate(ex.model, calib)
        f = np.concatenate([(p.std.ravel() ** -2.0) / 256 for p in fisher.values()])
        rows.append({"model": name, "case": "per-sample Fisher quantiles 10/50/90 %",
                     "value": [float(q) for q in np.quantile(f, [0.1, 0.5, 0.9])]})
        for label, opts in CASES:
            qm = quantize(ex.model, calib, 3.0, **opts)
            rows.append({"model": name, "case": label, "valid_kl": evaluate(qm.model, ref, valid, targets)["kl"],
                         "code_bits_per_weight": qm.code_bits_per_weight()})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    write(args.out, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
