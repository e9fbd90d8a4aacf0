"""``codecframe gmvq train | compress | decompress`` (registered under ``codecframe.commands``)."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from codecframe.errors import InputError
from codecframe.io import atomic_write, read_bytes

from . import data as datasets

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``gmvq`` command and its subcommands."""
    p = sub.add_parser("gmvq", help="GM-VQ tokenizer: train, compress and decompress images")
    gsub = p.add_subparsers(dest="gmvq_command", metavar="SUBCOMMAND", required=True)

    t = gsub.add_parser("train", help="train a tokenizer (seeded, progress on stderr) and save a checkpoint")
    t.add_argument("-o", "--output", type=Path, required=True, help="checkpoint file (.safetensors)")
    t.add_argument("--dataset", default="mixed", choices=list(datasets.DATASETS))
    t.add_argument("--method", default="gmvq", help="gmvq (default), vqvae, vqvae-ema or gumbel")
    t.add_argument("--steps", type=int, default=5000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--beta", type=float, default=2.0, help="entropy weight (1: GM-VQ, >1: GM-VQ + entropy)")
    t.add_argument("--gamma", type=float, default=0.25, help="latent-term weight")
    t.add_argument("--entropy", default="aggregated", help="aggregated (ALBO), per-sample or none")
    t.add_argument("--codebook-size", type=int, default=256)
    t.add_argument("--latent-dim", type=int, default=16)
    t.add_argument("--sigma2", type=float, default=0.002, help="variance of the distance logits")
    t.add_argument("--threads", type=int, default=2, help="torch threads")
    t.add_argument("--quiet", action="store_true", help="no progress output")
    t.set_defaults(func=cmd_train)

    c = gsub.add_parser("compress", help="compress an image (PNG/JPEG/.npy 2-D) or a .npy stack (N, 8, 8) to .cfr")
    c.add_argument("input", type=Path)
    c.add_argument("-o", "--output", type=Path, required=True, help="output .cfr (written atomically)")
    c.add_argument("--model", type=Path, default=None, help="checkpoint (default: the shipped model)")
    c.set_defaults(func=cmd_compress)

    d = gsub.add_parser("decompress", help="decompress a .cfr made by 'gmvq compress' to .png or .npy")
    d.add_argument("input", type=Path)
    d.add_argument("-o", "--output", type=Path, required=True, help="output .png (single image) or .npy")
    d.add_argument("--model", type=Path, default=None, help="checkpoint (default: the shipped model)")
    d.set_defaults(func=cmd_decompress)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from .checkpoint import checkpoint_bytes
    from .model import ModelConfig
    from .train import TrainConfig, code_usage, train

    from codecframe.config import config_from_dict

    torch.set_num_threads(args.threads)
    model_opts = {"method": args.method, "codebook_size": args.codebook_size, "latent_dim": args.latent_dim,
                  "sigma2": args.sigma2}
    mcfg = config_from_dict(ModelConfig, model_opts, "gmvq train")
    tcfg = config_from_dict(TrainConfig, {"steps": args.steps, "seed": args.seed, "beta": args.beta,
                                          "gamma": args.gamma, "entropy": args.entropy}, "gmvq train")
    train_images, test_images = datasets.load(args.dataset, seed=0)
    t0 = time.perf_counter()

    def progress(step: int, steps: int, stats: dict[str, float]) -> None:
        if args.quiet:
            return
        every = max(1, steps // 20)
        if step % every == 0 or step == steps:
            shown = " ".join(f"{k} {v:.4g}" for k, v in stats.items())
            print(f"step {step}/{steps} ({time.perf_counter() - t0:.0f} s) {shown}", file=sys.stderr, flush=True)

    res = train(mcfg, tcfg, train_images, progress=progress)
    counts = code_usage(res.model, train_images)
    with torch.no_grad():
        idx, rec = res.model.reconstruct(torch.from_numpy(test_images))
    mse = float(((rec.clamp(0, 1).numpy() - test_images) ** 2).mean())
    used = np.bincount(idx.reshape(-1).numpy(), minlength=mcfg.codebook_size)
    p = used[used > 0] / used.sum()
    # Only deterministic facts go into the file, so that the same command reproduces it byte for byte.
    summary = {"dataset": args.dataset, "test_mse": mse, "test_perplexity": float(np.exp(-(p * np.log(p)).sum())),
               "test_utilization": float((used > 0).mean())}
    atomic_write(args.output, checkpoint_bytes(res.model, tcfg, counts, extra=summary))
    print(json.dumps({"checkpoint": str(args.output), "train_seconds": round(res.seconds, 1), **summary,
                      "train_config": dataclasses.asdict(tcfg)}))
    return 0


def _tokenizer(path: Path | None):
    from .tokenizer import Tokenizer

    return Tokenizer.load(path)


def _read_image(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{path}: not a readable .npy array: {exc}") from None
        return arr
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(read_bytes(path))) as img:
            return datasets.image_to_gray(np.asarray(img.convert("L") if img.mode not in ("L", "RGB", "RGBA") else img))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not a readable image: {exc}") from None


def cmd_compress(args: argparse.Namespace) -> int:
    tok = _tokenizer(args.model)
    arr = _read_image(args.input)
    if arr.ndim == 3 and arr.shape[1:] == (tok.image_size, tok.image_size):
        data = tok.compress(arr)
        what = f"{len(arr)} images"
    else:
        data = tok.compress_image(arr)
        what = f"a {arr.shape[0]}x{arr.shape[1]} image" if arr.ndim == 2 else "image"
    atomic_write(args.output, data)
    print(f"{args.output}: {len(data)} bytes for {what}", file=sys.stderr)
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    tok = _tokenizer(args.model)
    out = tok.decompress_any(read_bytes(args.input))
    if args.output.suffix.lower() == ".npy":
        buf = io.BytesIO()
        np.save(buf, out, allow_pickle=False)
        atomic_write(args.output, buf.getvalue())
    else:
        if out.ndim != 2:
            raise InputError(f"{args.input} holds {len(out)} separate images; write them to a .npy file")
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.round(out * 255.0).astype(np.uint8)).save(buf, format="PNG")
        atomic_write(args.output, buf.getvalue())
    print(f"{args.output}: {out.shape}", file=sys.stderr)
    return 0
