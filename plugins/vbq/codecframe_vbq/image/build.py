"""Build the shipped model files: train the VAE, then fit the VBQ tables on the training latents.

    python -m codecframe_vbq.image.build --out-dir plugins/vbq/codecframe_vbq/assets --steps 22000 --seed 0 --threads 1

Writes ``image-vae.safetensors`` and ``image-tables.safetensors`` and prints their sha256
references (to be recorded in :mod:`codecframe_vbq.image.shipped`). ``--weights FILE`` skips
training and refits the tables for existing weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from codecframe.assets import register_asset
from codecframe.io import atomic_write

from ..fit import DEFAULT_LAMBDAS, fit_tables
from . import data
from .codec import ImageCodec
from .evaluate import training_latents
from .train import add_training_arguments, train, validate
from .vae import VAEConfig
from .weights import save_vae

__all__ = ["main"]

VAE_FILE = "image-vae.safetensors"
TABLES_FILE = "image-tables.safetensors"
#: Weight of the index histogram against the level back-off in the tables (``specs/vbq.md`` §5.2).
BACKOFF_SHIFT = 5


def build_tables(weights: Path, out: Path, backoff_shift: int = BACKOFF_SHIFT) -> str:
    """Fit and write the tables for the VAE in ``weights``; returns their reference."""
    vae_ref = register_asset(weights)
    placeholder = "sha256:" + "0" * 64
    codec = ImageCodec(vae=vae_ref, tables=placeholder)
    t0 = time.process_time()
    means, stds = training_latents(codec)
    tables = fit_tables(means, stds, DEFAULT_LAMBDAS, 10, backoff_shift,
                        {"vae": vae_ref, "training_images": list(data.TRAIN), "latents_per_channel": int(means.shape[1])})
    atomic_write(out, tables.to_bytes())
    print(json.dumps({"tables_cpu_s": time.process_time() - t0, "latents_per_channel": int(means.shape[1])}), flush=True)
    return register_asset(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=None, help="existing VAE weights: only refit the tables")
    ap.add_argument("--steps", type=int, default=22000)
    add_training_arguments(ap)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    weights = args.out_dir / VAE_FILE
    if args.weights is None:
        config = VAEConfig(args.hidden, args.latent, args.nonlinearity, args.likelihood_variance,
                           args.init_log_std, args.layers)
        model, stats = train(config, args.steps, args.seed, args.batch, args.crop, args.lr, None, args.clip or None,
                             log=lambda s: print(s, flush=True))
        model.eval()
        stats["validation"] = validate(model, data.load_split(data.VALIDATION))
        stats["command"] = "python -m codecframe_vbq.image.build " + " ".join(sys.argv[1:] if argv is None else argv)
        stats["threads"] = args.threads
        info = {k: v for k, v in stats.items() if k != "history"}
        print(json.dumps(info), flush=True)
        atomic_write(weights, save_vae(model, {"training": info, "config": dataclasses.asdict(config)}))
    elif args.weights.resolve() != weights.resolve():
        atomic_write(weights, args.weights.read_bytes())
    tables_ref = build_tables(weights, args.out_dir / TABLES_FILE)
    print(json.dumps({"VAE_REF": register_asset(weights), "TABLES_REF": tables_ref}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
