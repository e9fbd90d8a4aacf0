"""BayesQ evaluation in one run: three bundled models × budgets × calibration seeds × methods.

    .venv/bin/python benchmarks/bayesq/run.py --out benchmarks/bayesq/results.json
    .venv/bin/python benchmarks/bayesq/tables.py benchmarks/bayesq/results.json   # markdown tables

Methods (every one at the same code bits per weight; grids are per output channel everywhere):
- ``rtn``, ``rtn-mse``: round-to-nearest per channel, min–max and MSE-clipped (GPTQ's quant.py grids);
- ``hqq``: HQQ 0.2.8 (data-free, ``optimize=True``), one group per output channel;
- ``gptq``: the project's GPTQ (act-order, damp 0.01, block 128), sequential over layers;
  (all four through ``quantize(method=...)``);
- BayesQ ladder, nearest rounding: ``bq-alloc`` (knapsack allocation on min–max grids),
  ``bq-nearest`` (+ posterior-expected codebooks; the default of issue 5), ``bq-proxy`` (+ Monte
  Carlo KL proxy), ``bq-distill`` (+ distillation towards the posterior predictive),
  ``bq-distill-map`` (+ distillation towards the full-precision model); ``bq-lloyd`` (non-uniform
  codebooks);
- ``bayesq``: the default (BayesQ allocation on the min–max grids' posterior-expected distortions +
  GPTQ rounding, Hessians from the posterior pass); ``bq-gptq-grid``: the same allocation on the
  searched grids' distortions; ``bq-gptq-seq``: Hessians recomputed per layer through the quantized
  prefix.
Fractional budgets for the fixed-width baselines put the matching share of rows at the wider width.
Calibration sets are drawn per seed from the training data; data-free methods repeat across seeds.
Every method's weights are also written as a .cfr container (bayesq-grid quantizer, range coder) to
measure actual file bits. Runs on one thread (torch.set_num_threads(1)); JIT is warmed up first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from codecframe_bayesq.api import file_accounting, quantize
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.metrics import evaluate, log_probs

#: Per model: calibration size, and the (cheaper) proxy/distillation settings for the language model.
SETTINGS = {
    "mlp": {"calibration": 256, "proxy": {"samples": 8}, "distill": {"steps": 200}},
    "cnn": {"calibration": 256, "proxy": {"samples": 8}, "distill": {"steps": 200}},
    "tinylm": {"calibration": 128, "proxy": {"samples": 2, "calibration": 32},
               "distill": {"steps": 100, "samples": 4, "batch_size": 32}},
}


def bayesq_variants(name: str) -> dict[str, dict[str, Any]]:
    """The ladder (nearest rounding, as in issue 5), the default (GPTQ rounding from the posterior
    pass), and GPTQ rounding with Hessians recomputed per layer."""
    s = SETTINGS[name]
    near = {"rounding": "nearest"}
    return {
        "bq-alloc": {"codebook": "minmax", **near},
        "bq-nearest": near,
        "bq-proxy": {"proxy": s["proxy"], **near},
        "bq-distill": {"proxy": s["proxy"], "distill_options": s["distill"], **near},
        "bq-distill-map": {"proxy": s["proxy"], "distill_options": {**s["distill"], "samples": 0}, **near},
        "bq-lloyd": {"codebook": "lloyd", **near},
        "bayesq": {},
        "bq-gptq-grid": {"codebook": "grid"},
        "bq-gptq-seq": {"rounding": "gptq-sequential"},
    }


def run(models: list[str], budgets: list[float], seeds: list[int], methods: set[str] | None, log) -> list[dict]:
    records = []
    for name in models:
        ex = load_example(name)
        ref = log_probs(ex.model, ex.x_test)
        fp = evaluate(ex.model, ref, ex.x_test, ex.y_test)
        records.append({"model": name, "method": "fp", "budget": 32.0, "seed": None, **fp})
        n_calib = SETTINGS[name]["calibration"]
        # warm-up (JIT compilation, caches) outside the timed runs
        quantize(ex.model, ex.calibration(16, 99), 3.0)
        variants = {k: v for k, v in bayesq_variants(name).items() if methods is None or k in methods}
        for seed in seeds:
            calib = ex.calibration(n_calib, seed)
            for budget in budgets:
                for method in ("rtn", "rtn-mse", "hqq", "gptq"):
                    if methods is not None and method not in methods:
                        continue
                    if method != "gptq" and seed != seeds[0]:
                        prev = next(r for r in records if r["model"] == name and r["method"] == method
                                    and r["budget"] == budget and r["seed"] == seeds[0])
                        records.append({**prev, "seed": seed, "repeated": True})
                        continue
                    t0 = time.perf_counter()
                    qm = quantize(ex.model, calib, budget, method=method, architecture=ex.architecture)
                    seconds = time.perf_counter() - t0
                    acc = file_accounting(qm.to_bytes(), qm.n_weights, qm.code_bits())
                    acc.pop("full_precision_tensors")
                    records.append({"model": name, "method": method, "budget": budget, "seed": seed,
                                    "seconds": seconds, **acc, **evaluate(qm.model, ref, ex.x_test, ex.y_test)})
                    log(records[-1])
                for method, opts in variants.items():
                    qm = quantize(ex.model, calib, budget, seed=seed, architecture=ex.architecture, **opts)
                    acc = file_accounting(qm.to_bytes(), qm.n_weights, qm.code_bits())
                    acc.pop("full_precision_tensors")
                    records.append({"model": name, "method": method, "budget": budget, "seed": seed,
                                    "seconds": qm.timings["total"], "timings": qm.timings, **acc,
                                    **evaluate(qm.model, ref, ex.x_test, ex.y_test)})
                    log(records[-1])
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,tinylm")
    parser.add_argument("--budgets", default="2.5,3.0,3.5,4.0")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="calibration seeds (the language model uses the first 3)")
    parser.add_argument("--lm-seeds", type=int, default=3)
    parser.add_argument("--methods", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = None if args.methods is None else set(args.methods.split(","))
    start = time.time()
    load = [os.getloadavg()]
    records = []

    def log(rec: dict) -> None:
        print(json.dumps({k: rec[k] for k in ("model", "method", "budget", "seed", "kl", "code_bits_per_weight",
                                               "quantized_bits_per_weight", "seconds")}), file=sys.stderr, flush=True)

    for name in args.models.split(","):
        use = seeds[: args.lm_seeds] if name == "tinylm" else seeds
        records += run([name], budgets, use, methods, log)
        load.append(os.getloadavg())
    out = {"command": "python " + " ".join(sys.argv), "loadavg": load, "seconds": round(time.time() - start, 1),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                       "threads": torch.get_num_threads()}, "records": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".part")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
