"""Build the shipped model files: train the VAE, then fit the VBQ tables on the training latents.

    python -m codecframe_vbq.image.build --out-dir plugins/vbq/codecframe_vbq/assets --steps 22000 --seed 0 --threads 1

Writes ``image-vae.safetensors``, ``image-tables.safetensors`` (searched with the calibrated σ_eff
of ``--sigma-alpha``, recorded in the tables, grid over the full training range at quantiles of the
flattened prior p^``--prior-power``) and
``image-tables-raw-sigma.safetensors`` (raw σ and the paper's quantile grid: the tables of files
written before the calibration, kept so that they still decode) and prints
their sha256 references (to be recorded in :mod:`codecframe_vbq.image.shipped`). ``--weights
FILE`` skips training and refits the tables for existing weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from codecframe.assets import register_asset
from codecframe.io import atomic_write

from ..calibration import SigmaCalibration, fit_calibrated_tables
from ..fit import DEFAULT_LAMBDAS
from . import data
from .codec import ImageCodec
from .evaluate import training_latents
from .latents import augmented_latents
from .train import add_training_arguments, run_script, train, validate
from .vae import VAEConfig
from .weights import load_vae_file, save_vae

__all__ = ["main"]

VAE_FILE = "image-vae.safetensors"
TABLES_FILE = "image-tables.safetensors"
RAW_SIGMA_TABLES_FILE = "image-tables-raw-sigma.safetensors"
#: α of the shipped σ calibration, chosen on the validation image (benchmarks/vbq/calibrate.py).
SIGMA_ALPHA = 0.0
#: Prior span and power of the shipped tables (``prior.empirical_points``), chosen on the validation image.
PRIOR_SPAN = "full"
PRIOR_POWER = 0.0
#: Weight of the index histogram against the level back-off in the tables (``specs/vbq.md`` §5.2).
BACKOFF_SHIFT = 5


def build_tables(weights: Path, outs: dict[Path, tuple[float, str, float]],
                 backoff_shift: int = BACKOFF_SHIFT, augmented: int = 0) -> dict[Path, str]:
    """Fit and write tables for the VAE in ``weights``, one file per (path: (α of the σ calibration,
    1 = raw σ; prior span; prior power)); returns their references. ``augmented`` > 0: fit on the
    latents of the second split's training images and that many recoloured copies of each
    (:func:`.latents.augmented_latents`) instead of the first split's."""
    vae_ref = register_asset(weights)
    placeholder = "sha256:" + "0" * 64
    codec = ImageCodec(vae=vae_ref, tables=placeholder)
    t0 = time.process_time()
    if augmented:
        means, stds = augmented_latents(codec.model, data.TRAIN_V2, augmented)
        info = {"vae": vae_ref, "training_images": list(data.TRAIN_V2), "recoloured_copies": augmented,
                "latents_per_channel": int(means.shape[1])}
    else:
        means, stds = training_latents(codec)
        info = {"vae": vae_ref, "training_images": list(data.TRAIN), "latents_per_channel": int(means.shape[1])}
    refs = {}
    for out, (alpha, span, power) in outs.items():
        calibration = None if alpha == 1 else SigmaCalibration.from_training(stds, alpha)
        atomic_write(out, fit_calibrated_tables(means, stds, calibration, DEFAULT_LAMBDAS, 10, backoff_shift,
                                                info, prior_span=span, prior_power=power).to_bytes())
        refs[out] = register_asset(out)
    print(json.dumps({"tables_cpu_s": time.process_time() - t0, "latents_per_channel": int(means.shape[1])}), flush=True)
    return refs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=None, help="existing VAE weights: only refit the tables")
    ap.add_argument("--steps", type=int, default=22000)
    ap.add_argument("--sigma-alpha", type=float, default=SIGMA_ALPHA,
                    help="α of the σ calibration the shipped tables record (1: raw σ)")
    ap.add_argument("--prior-power", type=float, default=PRIOR_POWER,
                    help="flatten the grid's prior to p^power (1: the empirical quantiles)")
    ap.add_argument("--augmented-latents", type=int, default=0, metavar="COPIES",
                    help="fit the tables on the second split's training latents with COPIES recoloured copies "
                         "of each image (default 0: the first split's latents, as the shipped tables)")
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
        atomic_write(weights, save_vae(model, {"training": info, "config": config.to_dict()}))
    elif args.weights.resolve() != weights.resolve():
        atomic_write(weights, load_vae_file(args.weights)[2])  # checked before it is copied
    refs = build_tables(weights, {args.out_dir / TABLES_FILE: (args.sigma_alpha, PRIOR_SPAN, args.prior_power),
                                  args.out_dir / RAW_SIGMA_TABLES_FILE: (1.0, "quantile", 1.0)},
                        augmented=args.augmented_latents)
    print(json.dumps({"VAE_REF": register_asset(weights), "TABLES_REF": refs[args.out_dir / TABLES_FILE],
                      "RAW_SIGMA_TABLES_REF": refs[args.out_dir / RAW_SIGMA_TABLES_FILE]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, "codecframe_vbq.image.build"))
