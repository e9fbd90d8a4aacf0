"""``codecframe gmvq train | compress | decompress`` (registered under ``codecframe.commands``)."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import warnings
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


#: Largest input accepted (pixels, or array elements of a .npy), checked from the file's header.
MAX_PIXELS = 1 << 26
_ORIENTATION = 0x0112


def _read_npy(path: Path) -> np.ndarray:
    """A .npy array, its header (shape, dtype) checked before any data is read."""
    from codecframe.errors import LimitError

    buf = io.BytesIO(read_bytes(path, max_bytes=1 << 31))
    try:
        version = np.lib.format.read_magic(buf)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(buf) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(buf))
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array: {exc}") from None
    if dtype.kind not in "fiu" or len(shape) not in (2, 3):
        raise InputError(f"{path}: .npy of {dtype} {shape}; expected a numeric 2-D image or (N, S, S) stack")
    if math.prod(shape) > MAX_PIXELS:
        raise LimitError(f"{path}: .npy shape {shape} exceeds the limit of {MAX_PIXELS} elements")
    buf.seek(0)
    try:
        return np.load(buf, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array: {exc}") from None


def _read_image(path: Path) -> tuple[np.ndarray, list[str]]:
    """A 2-D gray image in [0, 1] (or a .npy array as stored) and notes on conversions made.

    The same input policy as ``codecframe image compress`` (docs/vbq.md), then gray by ITU-R 601
    luma: 16-bit samples keep their high byte; an EXIF orientation is applied; a fully opaque alpha
    channel is dropped; transparency, 32-bit integer or float samples, multi-frame images and more
    than :data:`MAX_PIXELS` pixels (checked from the header) are refused.
    """
    if path.suffix.lower() == ".npy":
        return _read_npy(path), []
    from PIL import Image, ImageOps, UnidentifiedImageError

    from codecframe.errors import LimitError

    data = read_bytes(path, max_bytes=1 << 30)
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit follows
            img = Image.open(io.BytesIO(data))
        with img:
            if img.width * img.height > MAX_PIXELS:
                raise LimitError(f"{path}: {img.width}x{img.height} exceeds the limit of {MAX_PIXELS} pixels")
            if getattr(img, "n_frames", 1) > 1:
                raise InputError(f"{path}: {img.format} with {img.n_frames} frames; extract the frame you want first")
            mode = img.mode
            if mode in ("I", "F"):
                raise InputError(f"{path}: {mode} image with 32-bit samples; 8- and 16-bit images are accepted")
            img.load()
            if img.getexif().get(_ORIENTATION, 1) in range(2, 9):
                img = ImageOps.exif_transpose(img)
                notes.append(f"{path}: applied the EXIF orientation")
            if "A" in img.getbands() or mode in ("PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
                img = img.convert("RGBA")
                if np.asarray(img)[..., 3].min() < 255:
                    raise InputError(f"{path}: {mode} image with transparency; flatten it onto a background first")
                notes.append(f"{path}: dropped a fully opaque alpha channel")
            if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 24 and data[24] > 8 or mode.startswith("I;16"):
                notes.append(f"{path}: reduced 16-bit samples to 8 bits (high byte)")
            if img.mode.startswith("I;16"):
                arr = (np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8)
            else:
                arr = np.asarray(img.convert("L") if img.mode not in ("L", "RGB") else img)
                if img.mode != "L":
                    notes.append(f"{path}: converted {img.mode} to gray (ITU-R 601 luma)")
    except (InputError, LimitError):
        raise
    except Image.DecompressionBombError as exc:
        raise LimitError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"{path}: not a readable image: {exc}") from None
    return datasets.image_to_gray(arr), notes


def cmd_compress(args: argparse.Namespace) -> int:
    arr, notes = _read_image(args.input)
    for note in notes:
        print(f"codecframe gmvq: {note}", file=sys.stderr)
    tok = _tokenizer(args.model)
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
