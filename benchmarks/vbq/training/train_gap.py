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

import torch

from codecframe.io import atomic_write
from codecframe_vbq.image import data
from codecframe_vbq.image.heldout import load_model
from codecframe_vbq.image.resumable import validation_psnr


def gaps(weights: list[Path]) -> dict[str, dict]:
    """Per weights file: g(μ) PSNR of each training and each validation image, and their means."""
    out = {}
    for path in weights:
        model = load_model(path, None)
        out[path.name] = {"train": validation_psnr(model, data.TRAIN_V2),
                          "validation": validation_psnr(model, data.VALIDATION_V2)}
        print(f"{path}: training images {out[path.name]['train']['mean']:.2f} dB ({len(data.TRAIN_V2)}), "
              f"validation {out[path.name]['validation']['mean']:.2f} dB", flush=True)
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
