"""Seeded training of the image VAE on crops of the training photographs (``docs/vbq.md``).

    python -m codecframe_vbq.image.train --out vae.safetensors --steps 3000 --seed 0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from codecframe.errors import CodecframeError
from codecframe.io import atomic_write

from . import data
from .vae import ImageVAE, VAEConfig
from .weights import save_vae

__all__ = ["train", "validate", "main"]


def validate(model: ImageVAE, images: list[np.ndarray]) -> dict[str, float]:
    """Negative ELBO terms and PSNR of g(μ) on whole images (cropped to multiples of 16)."""
    kl_bits = sq = pixels = 0.0
    with torch.no_grad():
        for img in images:
            h, w = img.shape[0] // 16 * 16, img.shape[1] // 16 * 16
            x = torch.from_numpy(img[:h, :w].astype(np.float32).transpose(2, 0, 1)[None] / 255.0)
            mean, std = model.encode(x)
            kl_bits += float(0.5 * (mean**2 + std**2 - 1.0 - 2.0 * torch.log(std)).sum()) / np.log(2)
            rec = np.clip(model.decode(mean)[0].numpy().transpose(1, 2, 0), 0, 1)
            sq += float(((np.round(rec * 255) - img[:h, :w]) ** 2).sum())
            pixels += h * w
    mse = sq / (3 * pixels)
    return {"kl_bpp": kl_bits / pixels, "psnr_mean": 10 * np.log10(255**2 / mse)}


def train(config: VAEConfig, steps: int, seed: int, batch: int = 8, crop: int = 128, lr: float = 1e-3,
          cpu_seconds: float | None = None, clip: float | None = 1.0, log=print) -> tuple[ImageVAE, dict]:
    """Train for ``steps`` Adam steps (or until ``cpu_seconds`` of process CPU time); lr/10 for the last 20 %.

    Gradients are clipped to norm ``clip`` (None: no clipping), which keeps GDN stable at lr 1e-3.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = data.load_split(data.TRAIN)
    model = ImageVAE(config)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    probe = torch.from_numpy(data.random_crops(data.load_split(data.VALIDATION), crop, 16, np.random.default_rng(12345)))
    start, t0 = time.process_time(), time.perf_counter()
    history = []
    step = 0
    for step in range(1, steps + 1):
        if step == int(0.8 * steps):
            for group in opt.param_groups:
                group["lr"] = lr / 10
        x = torch.from_numpy(data.random_crops(images, crop, batch, rng))
        loss, parts = model.loss(x)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if step % 100 == 0 or step == steps:
            row = {"step": step, "loss": float(loss.detach()), **parts, "cpu_s": time.process_time() - start}
            if step % 500 == 0:
                with torch.no_grad():
                    mse = float(((model.decode(model.encode(probe)[0]).clamp(0, 1) - probe) ** 2).mean())
                row["validation_crops_psnr"] = 10 * np.log10(1 / mse)
            history.append(row)
            log(json.dumps(row))
        if cpu_seconds is not None and time.process_time() - start > cpu_seconds:
            break
    return model, {"steps": step, "cpu_s": time.process_time() - start, "wall_s": time.perf_counter() - t0,
                   "history": history}


def add_training_arguments(ap: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``build``: seed, threads, optimiser and VAE shape."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=VAEConfig.hidden)
    ap.add_argument("--latent", type=int, default=VAEConfig.latent)
    ap.add_argument("--nonlinearity", default=VAEConfig.nonlinearity, choices=("gdn", "relu"))
    ap.add_argument("--likelihood-variance", type=float, default=VAEConfig.likelihood_variance)
    ap.add_argument("--init-log-std", type=float, default=VAEConfig.init_log_std)
    ap.add_argument("--layers", type=int, default=VAEConfig.layers, choices=(3, 4))
    ap.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping (0: none)")


def run_script(main: Callable[[], int], name: str) -> int:
    """``main()`` of the training script ``name`` run as ``python -m``: a codecframe or OS error (an
    unreadable weights or checkpoint file, say) is one line on stderr and exit status 1, no traceback."""
    try:
        return main()
    except (CodecframeError, OSError) as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    add_training_arguments(ap)
    ap.add_argument("--cpu-seconds", type=float, default=None, help="stop early after this much CPU time")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = VAEConfig(args.hidden, args.latent, args.nonlinearity, args.likelihood_variance, args.init_log_std,
                       args.layers)
    model, stats = train(config, args.steps, args.seed, args.batch, args.crop, args.lr, args.cpu_seconds, args.clip or None,
                         log=lambda s: print(s, flush=True))
    model.eval()
    stats["validation"] = validate(model, data.load_split(data.VALIDATION))
    stats["command"] = " ".join(sys.argv)
    print(json.dumps({k: v for k, v in stats.items() if k != "history"}), flush=True)
    atomic_write(args.out, save_vae(model, {"training": {k: v for k, v in stats.items() if k != "history"},
                                            "config": config.to_dict()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, "codecframe_vbq.image.train"))
