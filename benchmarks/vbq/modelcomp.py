"""Model-compression mode: VBQ vs a global uniform grid with entropy coding on a Bayesian MLP.

For each seed: train the 64-100-10 Bayesian MLP on digits by VI (codecframe_vbq.modelcomp), compress
its posterior means with VBQ (λ sweep) and with the core uniform quantizer (Δ sweep), decode every
container and score the held-out split. For accuracy levels a between 95 % of the uncompressed
accuracy and the uncompressed accuracy, it reports the fewest bits per parameter each method needs
to reach >= a, and VBQ's saving. Writes JSON and Markdown.

    python benchmarks/vbq/modelcomp.py --seeds 0 1 2 --out benchmarks/vbq/modelcomp.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from codecframe_vbq.modelcomp import LAMBDAS, STEPS, evaluate_compression, savings, train_bnn

RATES = ("payload_bits_per_param", "file_bits_per_param", "ideal_bits_per_param")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--train-steps", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/modelcomp.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    runs = []
    for seed in args.seeds:
        t0 = time.process_time()
        model, split = train_bnn(args.hidden, seed, args.train_steps)
        means, stds = model.flat()
        acc, ll = model.scores(means, split[2], split[3])
        points = [dataclasses.asdict(p) for p in evaluate_compression(model, split, LAMBDAS, STEPS)]
        run = {"seed": seed, "parameters": int(means.size), "uncompressed": {"accuracy": acc, "log_likelihood": ll},
               "median_std": float(np.median(stds)), "points": points,
               "savings": {r: savings(points, acc, r) for r in RATES}, "cpu_s": time.process_time() - t0}
        s = [x["saving"] for x in run["savings"]["payload_bits_per_param"] if x["saving"] is not None]
        print(json.dumps({"seed": seed, "accuracy": acc, "payload_saving_min": min(s, default=None),
                          "payload_saving_median": float(np.median(s)) if s else None}), flush=True)
        runs.append(run)
    result = {"runs": runs, "loadavg": open("/proc/loadavg").read().split()[:3],
              "command": "python benchmarks/vbq/modelcomp.py --seeds " + " ".join(map(str, args.seeds))}
    args.out.write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(markdown(result))
    return 0


def _f(v, spec=".3f"):
    return "–" if v is None else format(v, spec)


def markdown(result: dict) -> str:
    lines = ["| seed | params | uncompressed acc | rate | VBQ saving vs uniform over acc ∈ [0.95·acc₀, acc₀]: min / median / max |",
             "|---|---|---|---|---|"]
    for run in result["runs"]:
        for rate in RATES:
            s = [x["saving"] for x in run["savings"][rate] if x["saving"] is not None]
            lines.append(f"| {run['seed']} | {run['parameters']} | {run['uncompressed']['accuracy']:.4f} | {rate} | "
                         + (f"{100 * min(s):.0f} % / {100 * float(np.median(s)):.0f} % / {100 * max(s):.0f} %" if s else "–") + " |")
    lines += ["", "Bits per parameter needed to reach each accuracy (payload = coded stream + side info; seed "
              f"{result['runs'][0]['seed']}):", "", "| accuracy ≥ | VBQ | uniform | saving |", "|---|---|---|---|"]
    for x in result["runs"][0]["savings"]["payload_bits_per_param"][::4]:
        lines.append(f"| {x['accuracy']:.4f} | {_f(x['vbq'])} | {_f(x['uniform'])} | "
                     f"{'–' if x['saving'] is None else format(100 * x['saving'], '.0f') + ' %'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
