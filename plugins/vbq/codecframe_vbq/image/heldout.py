"""Held-out measurements of an image VAE (issue 17): the ceiling g(μ), colour truth and grid clamping.

Per image: PSNR of g(μ) (the decoder on the unquantized posterior mean, the codec's ceiling), the
largest channel-mean shift in grey levels, and — given VBQ tables — the fraction of latent means
outside the tables' grid span (those the search clamps to the extreme grid points). For the hue
sweep (:func:`.synthetic.hue_sweep`) also the PSNR of each 30° hue band.

    python -m codecframe_vbq.image.heldout [--weights W | --checkpoint C] [--tables T] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import data
from .synthetic import HUE_BAND_DEGREES
from .train import run_script
from .vae import ImageVAE

__all__ = ["posterior", "reconstruct", "psnr", "channel_mean_shift", "hue_band_psnr", "clamped_fraction",
           "measure", "main"]


def posterior(model: ImageVAE, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """μ and σ (C, h, w) of uint8 RGB ``image``, edge-padded to multiples of the stride (like the codec)."""
    s = model.config.stride
    ph, pw = -image.shape[0] % s, -image.shape[1] % s
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")
    x = torch.from_numpy(padded.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    with torch.no_grad():
        mean, std = model.encode(x)
    return mean[0].numpy(), std[0].numpy()


def reconstruct(model: ImageVAE, image: np.ndarray) -> np.ndarray:
    """g(μ) of uint8 RGB ``image`` as uint8 RGB of the same shape."""
    mean, _ = posterior(model, image)
    with torch.no_grad():
        out = model.decode(torch.from_numpy(mean[None]))[0].numpy().transpose(1, 2, 0)
    out = out[:image.shape[0], :image.shape[1]]
    return np.round(np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)


def psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """PSNR in dB of two uint8 images (inf if equal)."""
    mse = float(np.mean((reference.astype(np.float64) - image.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def channel_mean_shift(reference: np.ndarray, image: np.ndarray) -> float:
    """Largest |mean(out) − mean(in)| over the three channels, in grey levels."""
    diff = image.reshape(-1, 3).astype(np.float64).mean(0) - reference.reshape(-1, 3).astype(np.float64).mean(0)
    return float(np.abs(diff).max())


def hue_band_psnr(reference: np.ndarray, image: np.ndarray) -> list[float]:
    """PSNR of each 30° hue band (column block) of the hue sweep."""
    bands = 360 // HUE_BAND_DEGREES
    edges = np.round(np.linspace(0, reference.shape[1], bands + 1)).astype(int)
    return [psnr(reference[:, a:b], image[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]


def clamped_fraction(mean: np.ndarray, points: np.ndarray) -> float:
    """Fraction of the means (C, ...) outside their channel's grid span [points[c, 0], points[c, -1]]."""
    m = mean.reshape(mean.shape[0], -1)
    outside = (m < points[:, :1]) | (m > points[:, -1:])
    return float(outside.mean())


def measure(model: ImageVAE, names: Sequence[str] = data.HELDOUT, points: np.ndarray | None = None) -> dict:
    """Per image: g(μ) PSNR, channel-mean shift, clamped fraction (if grid ``points`` (C, K) are
    given), hue-band PSNRs for the hue sweep; plus the mean g(μ) PSNR over the photographs among ``names``."""
    rows = {}
    for name in names:
        image = data.load(name)
        rec = reconstruct(model, image)
        row = {"gmu_psnr": psnr(image, rec), "channel_mean_shift": channel_mean_shift(image, rec)}
        if points is not None:
            row["clamped"] = clamped_fraction(posterior(model, image)[0], points)
        if name == "hue_sweep":
            row["hue_bands"] = hue_band_psnr(image, rec)
        rows[name] = row
    photos = [rows[n]["gmu_psnr"] for n in names if n in rows and n not in data.HELDOUT_SYNTHETIC]
    return {"images": rows, "photo_mean_gmu_psnr": float(np.mean(photos)) if photos else None}


def load_model(weights: Path | None, checkpoint: Path | None) -> ImageVAE:
    """The torch model of a weights file (:mod:`.weights`), a training checkpoint or, with neither, the shipped VAE."""
    if checkpoint is not None:
        from .checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint).model
        model.eval()
        return model
    from .weights import load_vae, load_vae_file

    if weights is None:
        from codecframe.assets import load_asset

        from .shipped import VAE_REF

        return load_vae(load_asset(VAE_REF))[0]
    return load_vae_file(weights)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--weights", type=Path, help="VAE weights (default: the shipped VAE)")
    src.add_argument("--checkpoint", type=Path, help="a training checkpoint (:mod:`.checkpoint`)")
    ap.add_argument("--tables", type=Path, help="VBQ tables whose grid span is checked (default with no "
                    "--weights/--checkpoint: the shipped tables)")
    ap.add_argument("--images", nargs="*", default=list(data.HELDOUT))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_model(args.weights, args.checkpoint)
    points = None
    if args.tables is not None or (args.weights is None and args.checkpoint is None):
        from codecframe.assets import load_asset

        from ..tables import VBQTables
        from .shipped import TABLES_REF

        raw = args.tables.read_bytes() if args.tables is not None else load_asset(TABLES_REF)
        points = VBQTables.from_bytes(raw).points
    result = measure(model, args.images, points)
    result["command"] = "python -m codecframe_vbq.image.heldout " + " ".join(sys.argv[1:] if argv is None else argv)
    text = json.dumps(result, indent=1)
    if args.json is not None:
        from codecframe.io import atomic_write

        atomic_write(args.json, text.encode() + b"\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, "codecframe_vbq.image.heldout"))
