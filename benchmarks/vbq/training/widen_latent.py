"""Widen a trained VAE's latent to more channels, starting as the same function (for fine-tuning).

    python benchmarks/vbq/training/widen_latent.py plugins/vbq/codecframe_vbq/assets/image-vae-v2.safetensors \
        --latent 64 --out lat64-init.safetensors
    python -m codecframe_vbq.image.resumable --run-dir RUN --init-from lat64-init.safetensors ...

The old channels keep their encoder and decoder weights. Each new channel gets a freshly initialised
(seeded) mean filter, a log-variance filter of zeros with the bias of a new model (σ = e^init_log_std),
and decoder weights of zero: the widened decoder computes exactly what the old one did, and the new
channels start informative (so the decoder's gradient can pick them up) at their KL's cost.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from codecframe.io import atomic_write
from codecframe_vbq.image.vae import ImageVAE
from codecframe_vbq.image.weights import load_vae_file, save_vae


def widen(model: ImageVAE, latent: int, seed: int = 0) -> ImageVAE:
    """A copy of ``model`` with ``latent`` (> its own) latent channels; the decoder output is unchanged."""
    old = model.config.latent
    if latent <= old:
        raise ValueError(f"--latent must exceed the model's {old} channels, got {latent}")
    torch.manual_seed(seed)
    wide = ImageVAE(dataclasses.replace(model.config, latent=latent))
    src, dst = model.state_dict(), wide.state_dict()
    enc, dec = f"encoder.{len(model.encoder) - 1}", "decoder.0"
    with torch.no_grad():
        for name, value in src.items():
            if not name.startswith((enc + ".", dec + ".weight")):
                dst[name].copy_(value)
        w, b = dst[f"{enc}.weight"], dst[f"{enc}.bias"]
        w[:old], b[:old] = src[f"{enc}.weight"][:old], src[f"{enc}.bias"][:old]        # means
        w[latent:latent + old] = src[f"{enc}.weight"][old:]                             # log-variances
        b[latent:latent + old] = src[f"{enc}.bias"][old:]
        w[latent + old:] = 0.0                                                          # new: σ from the bias
        dst[f"{dec}.weight"][:old] = src[f"{dec}.weight"]
        dst[f"{dec}.weight"][old:] = 0.0
    wide.load_state_dict(dst)
    return wide


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--latent", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model, _, _ = load_vae_file(args.weights)
    try:
        wide = widen(model, args.latent, args.seed)
    except ValueError as exc:
        ap.error(str(exc))
    atomic_write(args.out, save_vae(wide, {"widened_from": str(args.weights), "latent_from": model.config.latent,
                                           "seed": args.seed}))


if __name__ == "__main__":
    main()
