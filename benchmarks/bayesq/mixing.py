"""Mixing demonstration: cross-plugin pipelines on the bundled MLP, all through Pipeline.from_config.

    .venv/bin/python benchmarks/bayesq/mixing.py --out benchmarks/bayesq/mixing.json

Groups are the MLP's three weight matrices with BayesQ's Laplace posteriors (``bayesq-diag``, or
``bayesq-kfac``), rescaled as ``quantize()`` does at a 3-bit budget. Each pipeline encodes them into a
real container, ``codecframe.decode`` reads it back (building the pipeline from the header), the
weights go into a copy of the model, and the test-set KL to the full-precision model is measured.
Biases stay in full precision outside the container (not counted: the bits are the weights' file).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

import codecframe
from codecframe import Pipeline, container
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.registry import registry
from codecframe_bayesq.api import relative_posteriors
from codecframe_bayesq.examples.zoo import load_example
from codecframe_bayesq.layers import find_layers, set_weight_matrix
from codecframe_bayesq.metrics import evaluate, log_probs

COMBINATIONS = [
    ("BayesQ Laplace posterior + VBQ quantizer (adaptive) + BayesQ knapsack",
     "bayesq-diag", {"quantizer": {"id": "vbq"}, "allocator": {"id": "knapsack", "avg_bits": 3.0}}),
    ("BayesQ Laplace posterior + VBQ quantizer + core Lagrangian",
     "bayesq-diag", {"quantizer": {"id": "vbq"}, "allocator": {"id": "lagrangian", "target_bpe": 3.0}}),
    ("core uniform quantizer + BayesQ knapsack",
     "bayesq-diag", {"quantizer": {"id": "uniform"}, "allocator": {"id": "knapsack", "avg_bits": 3.0}}),
    ("core uniform quantizer + core Lagrangian (reference)",
     "bayesq-diag", {"quantizer": {"id": "uniform"}, "allocator": {"id": "lagrangian", "target_bpe": 3.0}}),
    ("BayesQ grid codebooks, 3 bits, range coder",
     "bayesq-diag", {"quantizer": {"id": "bayesq-grid"}, "allocator": {"id": "fixed", "setting": {"bits": 3}},
                     "entropy_coder": {"id": "range"}}),
    ("BayesQ grid codebooks, 3 bits, rANS coder",
     "bayesq-diag", {"quantizer": {"id": "bayesq-grid"}, "allocator": {"id": "fixed", "setting": {"bits": 3}},
                     "entropy_coder": {"id": "rans"}}),
    ("BayesQ grid codebooks + knapsack on estimated bits, rANS coder",
     "bayesq-diag", {"quantizer": {"id": "bayesq-grid"}, "allocator": {"id": "knapsack", "avg_bits": 3.0},
                     "entropy_coder": {"id": "rans"}}),
    ("BayesQ K-FAC posterior + Lloyd codebooks (shipped table) + core Lagrangian",
     "bayesq-kfac", {"quantizer": {"id": "bayesq-lloyd", "table": None}, "allocator": {"id": "lagrangian", "target_bpe": 3.0}}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bayesq-mixing"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from codecframe_bayesq.tables import shipped_table_ref

    args.workdir.mkdir(parents=True, exist_ok=True)
    ex = load_example("mlp")
    calib = ex.calibration(256, 0)
    ref = log_probs(ex.model, ex.x_test)
    posts = {}
    for est in ("bayesq-diag", "bayesq-kfac"):
        raw = registry.create("estimator", {"id": est}).estimate(ex.model, calib)
        scaled, _ = relative_posteriors(raw, 1.0, 3.0)
        # the core container stores float32 weights; the structured posteriors keep their factors
        posts[est] = {k: (GaussianPosterior(mean=v.mean.astype(np.float32), std=v.std.astype(np.float32))
                          if type(v) is GaussianPosterior else v) for k, v in scaled.items()}
    n = sum(p.size for p in posts["bayesq-diag"].values())
    rows = []
    for i, (label, est, config) in enumerate(COMBINATIONS):
        config = json.loads(json.dumps(config))
        if config["quantizer"].get("table", "") is None:
            config["quantizer"]["table"] = shipped_table_ref()
        pipe = Pipeline.from_config(config)
        data = pipe.encode(posts[est])
        path = args.workdir / f"mixing-{i}.cfr"
        path.write_bytes(data)
        decoded = codecframe.decode(path.read_bytes())
        model = copy.deepcopy(ex.model)
        for layer in find_layers(model)[0]:
            set_weight_matrix(layer, decoded.arrays[layer.group].astype(np.float64).reshape(layer.rows, layer.cols))
        m = evaluate(model, ref, ex.x_test, ex.y_test)
        box = container.read(data)
        rows.append({"combination": label, "posterior_estimator": est, "pipeline": pipe.get_config(),
                     "file_bits_per_weight": 8 * len(data) / n,
                     "payload_bits_per_weight": 8 * sum(len(s) for s in box.streams) / n,
                     "kl": m["kl"], "accuracy": m["accuracy"],
                     "settings": [g["setting"] if len(json.dumps(g["setting"])) < 60 else "per row"
                                  for g in box.header["groups"]]})
        print(json.dumps({k: rows[-1][k] for k in ("combination", "file_bits_per_weight", "kl")}), file=sys.stderr)
    args.out.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "loadavg": os.getloadavg(),
                                    "weights": n, "rows": rows}, indent=1))
    print("| combination | pipeline (quantizer / allocator / coder) | file bits/weight | KL(fp‖q) | accuracy % |")
    print("|---|---|---|---|---|")
    for r in rows:
        p = r["pipeline"]
        parts = " / ".join(f"`{p[k]['id']}`" for k in ("quantizer", "allocator", "entropy_coder"))
        print(f"| {r['combination']} | {parts} | {r['file_bits_per_weight']:.3f} | {r['kl']:.3g} | {100 * r['accuracy']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
