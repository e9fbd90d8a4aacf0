"""GM-VQ benchmark: every method, same encoder/decoder/C/L/steps, several seeds, one run → JSON.

    .venv/bin/python benchmarks/gmvq/run.py --steps 3000 --seeds 0 1 2 --out benchmarks/gmvq/results.json

Methods: VQ-VAE (straight-through, commitment 0.25); VQ-VAE + EMA + k-means init + dead-code
replacement (vector-quantize-pytorch); Gumbel-VQ; GM-VQ (β = 1); GM-VQ + entropy (β > 1); and the
ablation with the per-sample entropy instead of the aggregated one. Test metrics use deterministic
(argmax) codes. Coded bits: the test indices are range-coded by the core coder under the integer
model built from the training-set code usage (what the ``gmvq`` quantizer does with its asset).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from codecframe.probability import ProbabilityModel
from codecframe.registry import registry
from codecframe_gmvq import data
from codecframe_gmvq.model import ModelConfig
from codecframe_gmvq.posterior import CategoricalPosterior
from codecframe_gmvq.train import TrainConfig, code_usage, train

#: name -> (model options, training options). Shared: C, L, architecture, steps, batch, lr.
GMVQ_MODEL = {"method": "gmvq", "sigma2": 0.002, "learn_weights": False}
METHODS: dict[str, tuple[dict, dict]] = {
    "vqvae": ({"method": "vqvae"}, {}),
    "vqvae-ema (vector-quantize-pytorch)": ({"method": "vqvae-ema"}, {}),
    "gumbel-vq": ({"method": "gumbel"}, {}),
    "gmvq": (GMVQ_MODEL, {"beta": 1.0}),
    "gmvq+entropy": (GMVQ_MODEL, {"beta": 2.0}),
    "gmvq per-sample entropy (ablation)": (GMVQ_MODEL, {"beta": 1.0, "entropy": "per-sample"}),
}


def perplexity(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


@torch.no_grad()
def evaluate(model, train_images: np.ndarray, test_images: np.ndarray) -> dict:
    x = torch.from_numpy(test_images)
    logits = model.logits(x)
    idx = logits.argmax(-1)
    rec = model.decode(model.codebook()[idx]).clamp(0.0, 1.0).numpy()
    counts = np.bincount(idx.reshape(-1).numpy(), minlength=model.config.codebook_size)
    c = model.config.codebook_size
    out = {
        "mse_e3": float(((rec - test_images) ** 2).mean()) * 1e3,
        "perplexity": perplexity(counts),
        "utilization": float((counts > 0).mean()),
    }
    # Mean per-sample posterior entropy (nats); VQ-VAE variants have no posterior.
    if model.config.method in ("gmvq", "gumbel"):
        out["posterior_entropy"] = float(CategoricalPosterior(logits=logits.numpy()).entropy().mean())
    else:
        out["posterior_entropy"] = None
    usage = code_usage(model, train_images)
    table = ProbabilityModel.from_counts(usage, precision=16)
    symbols = idx.reshape(-1).numpy().astype(np.int32)
    coder = registry.create("entropy_coder", {"id": "range", "precision": 16})
    stream = coder.encode(symbols, table)
    assert np.array_equal(coder.decode(stream, table, symbols.size), symbols)
    n = len(test_images)
    out["coded_bits_per_image"] = 8.0 * len(stream) / n
    out["coded_bits_per_token"] = 8.0 * len(stream) / symbols.size
    out["ideal_bits_per_token"] = table.information(symbols) / symbols.size
    out["log2_C"] = math.log2(c)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--dataset", default="digits", choices=list(data.DATASETS))
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_images, test_images = data.load(args.dataset)
    runs = []
    for name in args.methods:
        model_opts, train_opts = METHODS[name]
        for seed in args.seeds:
            mcfg = ModelConfig(latent_dim=16, codebook_size=256, **model_opts)
            tcfg = TrainConfig(steps=args.steps, seed=seed, **train_opts)
            res = train(mcfg, tcfg, train_images)
            row = {"method": name, "seed": seed, "train_seconds": res.seconds, **evaluate(res.model, train_images, test_images)}
            runs.append(row)
            print(json.dumps(row), flush=True)
    report = {
        "command": "benchmarks/gmvq/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "dataset": args.dataset,
        "train_images": len(train_images),
        "test_images": len(test_images),
        "steps": args.steps,
        "threads": args.threads,
        "loadavg": Path("/proc/loadavg").read_text().strip() if os.path.exists("/proc/loadavg") else None,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__}",
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": runs,
    }
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
