"""g(μ) PSNR on the training images (the second split, unaugmented) against the validation images, per model.

    python benchmarks/vbq/training/train_gap.py plugins/vbq/codecframe_vbq/assets/image-vae-v2.safetensors \
        h192.safetensors --json benchmarks/vbq/training/train_gap.json

A model that fits its training images better than another but is level on validation is
overfitting (a data limit); one level on both is limited by something else (objective, optimisation).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from codecframe.io import atomic_write, read_bytes
from codecframe_vbq.image import data
from codecframe_vbq.image.heldout import psnr, reconstruct
from codecframe_vbq.image.weights import load_vae


def gaps(weights: list[Path]) -> dict[str, dict]:
    out = {}
    for path in weights:
        model = load_vae(read_bytes(path))[0].eval()
        train = {n: psnr(img, reconstruct(model, img)) for n in data.TRAIN_V2 if (img := data.load(n)).ndim == 3}
        validation = {n: psnr(img, reconstruct(model, img)) for n in data.VALIDATION_V2 if (img := data.load(n)).ndim == 3}
        out[path.name] = {"train": train, "train_mean": float(np.mean(list(train.values()))),
                          "validation": validation, "validation_mean": float(np.mean(list(validation.values())))}
        print(f"{path}: training images {out[path.name]['train_mean']:.2f} dB ({len(train)}), "
              f"validation {out[path.name]['validation_mean']:.2f} dB", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path, nargs="+", help="exported VAE weights (resumable --export)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    result = gaps(args.weights)
    if args.json:
        atomic_write(args.json, json.dumps(result, indent=1).encode())


if __name__ == "__main__":
    main()
