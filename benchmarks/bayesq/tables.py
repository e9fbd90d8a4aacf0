"""Markdown tables for docs/benchmarks.md from the JSON that run.py writes.

    .venv/bin/python benchmarks/bayesq/tables.py benchmarks/bayesq/results.json > benchmarks/bayesq/tables.md
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

METHODS = ["rtn", "rtn-mse", "hqq", "gptq", "bq-alloc", "bq-nearest", "bq-proxy", "bq-distill", "bq-distill-map",
           "bq-lloyd", "bayesq", "bq-gptq-grid", "bq-gptq-seq"]
LABELS = {
    "rtn": "RTN min–max", "rtn-mse": "RTN MSE-clipped", "hqq": "HQQ", "gptq": "GPTQ",
    "bq-alloc": "BayesQ nearest rounding: allocation only",
    "bq-nearest": "BayesQ nearest rounding, searched codebooks (the issue-5 default)",
    "bq-proxy": "+ MC proxy", "bq-distill": "+ distillation (posterior predictive)",
    "bq-distill-map": "+ distillation (full-precision teacher)", "bq-lloyd": "BayesQ non-uniform (Lloyd) codebooks",
    "bayesq": "**BayesQ (default)**: allocation (min–max grids) + GPTQ rounding, one pass",
    "bq-gptq-grid": "BayesQ allocation (searched grids) + GPTQ rounding, one pass",
    "bq-gptq-seq": "BayesQ allocation + GPTQ rounding, sequential Hessians",
}


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def group(records):
    by = defaultdict(list)
    for r in records:
        by[(r["model"], r["method"], r["budget"])].append(r)
    return by


def main(path: str) -> None:
    data = json.load(open(path))
    recs = data["records"]
    by = group(recs)
    models = list(dict.fromkeys(r["model"] for r in recs))
    budgets = sorted({r["budget"] for r in recs if r["method"] != "fp"})
    out = [f"Command: `{data['command']}`  ", f"Load average during the run (1/5/15 min, per model): "
           f"{', '.join('/'.join(f'{v:.1f}' for v in l) for l in data['loadavg'])}; wall time {data['seconds']:.0f} s; "
           f"{data['machine']}", ""]
    for model in models:
        fp = by[(model, "fp", 32.0)][0]
        seeds = sorted({r["seed"] for r in recs if r["model"] == model and r["seed"] is not None})
        out += [f"### {model}: KL(fp ‖ q) on the test set, mean ± sd over {len(seeds)} calibration seeds", "",
                f"Full precision: NLL {fp['nll']:.4f}, accuracy {100 * fp['accuracy']:.2f} %, perplexity {fp['perplexity']:.3f}, "
                f"ECE {fp['ece']:.4f}.", "",
                "| method | " + " | ".join(f"{b:g} bits" for b in budgets) + " |",
                "|---|" + "---|" * len(budgets)]
        for m in METHODS:
            cells = []
            for b in budgets:
                rs = by.get((model, m, b), [])
                if not rs:
                    cells.append("–")
                    continue
                kl = [r["kl"] for r in rs]
                sd = statistics.stdev(kl) if len(kl) > 1 else 0.0
                cells.append(f"{fmt(statistics.mean(kl))} ± {fmt(sd)}")
            if any(c != "–" for c in cells):
                out.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
        out.append("")
        # metrics at 3 bits
        b3 = 3.0 if 3.0 in budgets else budgets[0]
        out += [f"Other metrics at {b3:g} bits (means over seeds); file bits include every full-precision parameter:", "",
                "| method | NLL | accuracy % | perplexity | ECE | code bits/w | quantized bits/w (file less extras) | whole file bits/parameter | seconds |",
                "|---|---|---|---|---|---|---|---|---|"]
        for m in METHODS:
            rs = by.get((model, m, b3), [])
            if not rs:
                continue
            mean = lambda k: statistics.mean(r[k] for r in rs)
            out.append(f"| {LABELS[m]} | {mean('nll'):.4f} | {100 * mean('accuracy'):.2f} | {mean('perplexity'):.3f} | "
                       f"{mean('ece'):.4f} | {mean('code_bits_per_weight'):.3f} | {mean('quantized_bits_per_weight'):.3f} | "
                       f"{mean('file_bits_per_parameter'):.3f} | {statistics.median(r['seconds'] for r in rs):.2f} |")
        out.append("")
        # paired differences
        out += ["Paired differences of KL per calibration seed, BayesQ (default) − baseline "
                "(negative = BayesQ better; mean [min, max], wins/seeds):", "",
                "| baseline | " + " | ".join(f"{b:g} bits" for b in budgets) + " |", "|---|" + "---|" * len(budgets)]
        for m in ("rtn", "rtn-mse", "hqq", "gptq", "bq-nearest", "bq-gptq-grid", "bq-gptq-seq"):
            cells = []
            for b in budgets:
                ours = {r["seed"]: r["kl"] for r in by.get((model, "bayesq", b), [])}
                theirs = {r["seed"]: r["kl"] for r in by.get((model, m, b), [])}
                common = sorted(set(ours) & set(theirs))
                if not common:
                    cells.append("–")
                    continue
                d = [ours[s] - theirs[s] for s in common]
                wins = sum(x < 0 for x in d)
                cells.append(f"{fmt(statistics.mean(d))} [{fmt(min(d))}, {fmt(max(d))}], {wins}/{len(d)}")
            out.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
        out.append("")
    # entropy coding vs fixed-length codes
    out += ["### Entropy-coded file vs fixed-length codes plus the same metadata (BayesQ default, means over seeds)", "",
            "Quantized part = file less the full-precision extras; fixed-length = that less the entropy-coded index "
            "streams plus the code bits (same header, row grids and count tables).", "",
            "| model | budget | code bits/w | entropy-coded index bits/w | quantized bits/w | fixed-length quantized bits/w | smaller? |",
            "|---|---|---|---|---|---|---|"]
    for model in models:
        for b in budgets:
            q = by.get((model, "bayesq", b), [])
            if not q:
                continue
            mean = lambda k: statistics.mean(r[k] for r in q)
            fixed = mean("quantized_bits_per_weight") - mean("coded_index_bits_per_weight") + mean("code_bits_per_weight")
            out.append(f"| {model} | {b:g} | {mean('code_bits_per_weight'):.3f} | {mean('coded_index_bits_per_weight'):.3f} | "
                       f"{mean('quantized_bits_per_weight'):.3f} | {fixed:.3f} | "
                       f"{'yes' if all(r['coded_index_bits_per_weight'] < r['code_bits_per_weight'] for r in q) else 'no'} |")
    out.append("")
    # timing
    out += ["### Time: BayesQ preprocessing + quantization vs the GPTQ run (same model, calibration set, thread)", "",
            "| model | budget | GPTQ s (median) | BayesQ default s (median) | ratio | BayesQ split (posterior / codebooks / allocation / GPTQ rounding) |",
            "|---|---|---|---|---|---|"]
    for model in models:
        for b in budgets:
            g, q = by.get((model, "gptq", b), []), by.get((model, "bayesq", b), [])
            if not g or not q:
                continue
            gs, qs = statistics.median(r["seconds"] for r in g), statistics.median(r["seconds"] for r in q)
            split = " / ".join(f"{statistics.median(r['timings'].get(k, 0.0) for r in q):.2f}"
                               for k in ("posterior", "codebooks", "allocation", "gptq_rounding"))
            out.append(f"| {model} | {b:g} | {gs:.2f} | {qs:.2f} | {qs / gs:.1f}× | {split} |")
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
