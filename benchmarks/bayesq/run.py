"""BayesQ evaluation in one run: three bundled models × budgets × calibration seeds × methods.

    .venv/bin/python benchmarks/bayesq/run.py --out benchmarks/bayesq/results.json
    .venv/bin/python benchmarks/bayesq/tables.py benchmarks/bayesq/results.json   # markdown tables

Methods (every one at the same code bits per weight; grids are per output channel everywhere):
- ``rtn``, ``rtn-mse``: round-to-nearest per channel, min–max and MSE-clipped (GPTQ's quant.py grids);
- ``hqq``: HQQ 0.2.8 (data-free, ``optimize=True``), one group per output channel;
- ``gptq``: the project's GPTQ (act-order, damp 0.01, block 128), sequential over layers;
- BayesQ ladder: ``bq-alloc`` (knapsack allocation on min–max grids), ``bayesq`` (the default: +
  posterior-expected codebooks), ``bq-proxy`` (+ Monte Carlo KL proxy), ``bq-distill`` (+ distillation
  towards the posterior predictive), ``bq-distill-map`` (+ distillation towards the full-precision model);
  ``bq-lloyd`` (non-uniform codebooks); ``bq-gptq`` (BayesQ allocation + GPTQ rounding).
Fractional budgets for the fixed-width baselines alternate rows between the two neighbouring widths.
Calibration sets are drawn per seed from the training data; data-free methods repeat across seeds.
Every method's weights are also written as a .cfr container (bayesq-grid quantizer, range coder) to
measure actual file bits. Runs on one thread (torch.set_num_threads(1)); JIT is warmed up first.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecframe_bayesq.api import QuantizedModel, file_accounting, quantize
from codecframe_bayesq.baselines import gptq_model, rtn_code
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.layers import find_layers, set_weight_matrix, weight_matrix
from codecframe_bayesq.metrics import evaluate, log_probs
from codecframe_bayesq.quantizers import GridQuantizer, LayerCode
from codecframe.builtins.gaussian import GaussianPosterior

#: Per model: calibration size, and the (cheaper) proxy/distillation settings for the language model.
SETTINGS = {
    "mlp": {"calibration": 256, "proxy": {"samples": 8}, "distill": {"steps": 200}},
    "cnn": {"calibration": 256, "proxy": {"samples": 8}, "distill": {"steps": 200}},
    "tinylm": {"calibration": 128, "proxy": {"samples": 2, "calibration": 32},
               "distill": {"steps": 100, "samples": 4, "batch_size": 32}},
}


def row_bits(rows: int, budget: float) -> np.ndarray:
    """Fixed-width baselines: every row at ``budget``; x.5 budgets alternate ceil/floor by row."""
    lo, hi = int(np.floor(budget)), int(np.ceil(budget))
    if lo == hi:
        return np.full(rows, lo)
    if abs(budget - lo - 0.5) > 1e-9:
        raise ValueError("fixed-width baselines support integer and x.5 budgets")
    return np.where(np.arange(rows) % 2 == 0, hi, lo)


def hqq_code(w: np.ndarray, bits: np.ndarray) -> LayerCode:
    """HQQ per output channel (one group per row), run separately on the rows of each width."""
    from hqq.core.quantize import Quantizer as HQQ

    scale, zero = np.empty(len(bits)), np.empty(len(bits))
    codes = np.empty(w.shape, np.int32)
    for b in np.unique(bits):
        rows = np.flatnonzero(bits == b)
        sub = torch.tensor(w[rows], dtype=torch.float32)
        q, meta = HQQ.quantize(sub, nbits=int(b), group_size=sub.shape[1], optimize=True, axis=1, device="cpu",
                               bitpack=False)
        q = q.reshape(sub.shape).double().numpy()
        s = meta["scale"].reshape(-1).double().numpy()
        z = meta["zero"].reshape(-1).double().numpy()
        codes[rows] = np.clip(np.rint(q), 0, (1 << int(b)) - 1).astype(np.int32)
        scale[rows], zero[rows] = s, -s * z  # HQQ: w ≈ (q - z)·s
    levels = {int(b): np.arange(1 << int(b), dtype=np.float64) for b in np.unique(bits)}
    return LayerCode(np.asarray(bits), scale, zero, levels, codes)


def wrap(model: torch.nn.Module, codes: dict[str, LayerCode], architecture: dict) -> QuantizedModel:
    """A QuantizedModel for any method's per-row codes, to write it as a .cfr container."""
    layers, unsupported = find_layers(model)
    posts = {l.group: GaussianPosterior(mean=weight_matrix(l), std=np.ones((l.rows, l.cols))) for l in layers}
    q = GridQuantizer()
    stored = {g: q.rounded(c, None) for g, c in codes.items()}
    return QuantizedModel(model, layers, unsupported, stored, posts, q, {}, {}, architecture)


def baseline(ex, method: str, budget: float, calib: torch.Tensor) -> tuple[torch.nn.Module, dict, float]:
    model = copy.deepcopy(ex.model)
    layers, _ = find_layers(model)
    t0 = time.perf_counter()
    if method in ("rtn", "rtn-mse"):
        codes = {l.group: rtn_code(weight_matrix(l), row_bits(l.rows, budget), mse=method == "rtn-mse") for l in layers}
    elif method == "hqq":
        codes = {l.group: hqq_code(weight_matrix(l), row_bits(l.rows, budget)) for l in layers}
    elif method == "gptq":
        grids = {l.group: rtn_code(weight_matrix(l), row_bits(l.rows, budget)) for l in layers}
        codes = gptq_model(model, layers, calib, grids)
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - t0
    for l in layers:
        set_weight_matrix(l, codes[l.group].values())
    return model, codes, seconds


def bayesq_variants(name: str) -> dict[str, dict[str, Any]]:
    s = SETTINGS[name]
    return {
        "bq-alloc": {"codebook": "minmax"},
        "bayesq": {},
        "bq-proxy": {"proxy": s["proxy"]},
        "bq-distill": {"proxy": s["proxy"], "distill_options": s["distill"]},
        "bq-distill-map": {"proxy": s["proxy"], "distill_options": {**s["distill"], "samples": 0}},
        "bq-lloyd": {"codebook": "lloyd"},
        "bq-gptq": {"rounding": "gptq"},
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
                    model, codes, seconds = baseline(ex, method, budget, calib)
                    qm = wrap(model, codes, ex.architecture)
                    acc = file_accounting(qm.to_bytes(), qm.n_weights, qm.code_bits())
                    records.append({"model": name, "method": method, "budget": budget, "seed": seed,
                                    "seconds": seconds, **acc, **evaluate(model, ref, ex.x_test, ex.y_test)})
                    log(records[-1])
                for method, opts in variants.items():
                    qm = quantize(ex.model, calib, budget, seed=seed, architecture=ex.architecture, **opts)
                    acc = file_accounting(qm.to_bytes(), qm.n_weights, qm.code_bits())
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
                                               "file_bits_per_weight", "seconds")}), file=sys.stderr, flush=True)

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
