"""Profile of BayesQ's default path (posterior + codebooks + allocation) next to the GPTQ run, one thread.

    .venv/bin/python benchmarks/bayesq/profile_steps.py --model mlp --budget 4.0 [--cprofile 25]

Prints, per repetition, the GPTQ wall time (grids + column loop, as in ``run.py``) and BayesQ's
timings; with ``--cprofile N`` the N most expensive functions of one more BayesQ run. JIT warm-up
first. A development tool: the reported ratios come from ``run.py`` (same run, several seeds).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import os
import pstats
import time

import numpy as np
import torch

from codecframe_bayesq.api import quantize
from codecframe_bayesq.baselines import gptq_model, rtn_code
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.layers import find_layers, weight_matrix


def gptq_seconds(ex, calib: torch.Tensor, budget: float) -> float:
    model = copy.deepcopy(ex.model)
    layers, _ = find_layers(model)
    t0 = time.perf_counter()
    lo, hi = int(np.floor(budget)), int(np.ceil(budget))
    grids = {l.group: rtn_code(weight_matrix(l), np.where(np.arange(l.rows) % 2 == 0, hi, lo)) for l in layers}
    gptq_model(model, layers, calib, grids)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cprofile", type=int, default=0, help="print the N most expensive functions")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    ex = load_example(args.model)
    calib = ex.calibration(128 if args.model == "tinylm" else 256, 0)
    quantize(ex.model, ex.calibration(16, 99), 3.0)
    gptq_seconds(ex, calib, args.budget)
    print(f"loadavg {os.getloadavg()}")
    for _ in range(args.repeat):
        g = gptq_seconds(ex, calib, args.budget)
        qm = quantize(ex.model, calib, args.budget)
        t = qm.timings
        print(f"GPTQ {g:.4f} s | BayesQ {t['total']:.4f} s ({t['total'] / g:.2f}×): posterior {t['posterior']:.4f}, "
              f"codebooks {t['codebooks']:.4f}, allocation {t['allocation']:.4f}")
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        quantize(ex.model, calib, args.budget)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.cprofile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
