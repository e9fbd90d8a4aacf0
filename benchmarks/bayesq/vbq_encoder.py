"""Mix and match: BayesQ compressing the VBQ image VAE's own encoder, with the image R–D cost measured.

    .venv/bin/python benchmarks/bayesq/vbq_encoder.py --out benchmarks/bayesq/vbq_encoder.json

The shipped VBQ image model (``codecframe_vbq.image.shipped.VAE_REF``) is a torch module like any
other: its encoder's Conv2d layers are quantized by BayesQ, GPTQ and RTN at the same code bits per
weight, through the same ``.cfr`` container. The decoder's ConvTranspose2d layers are not a layer
type BayesQ supports, so they stay in full precision (``quantize`` lists them), and that is also
the deployment this case models: a sender with a small encoder, receivers with the unchanged
decoder. The files it writes are ordinary VBQ files, decoded by the shipped decoder.

Objective: the encoder's output (μ and log σ², every latent) read as an embedding with a Gaussian
likelihood (``Adapter(kind="embedding", normalize=False)``), on 64 crops (64×64) of the VBQ
training images. R–D: the six held-out photographs of issue 17, each coded at three λ with the
quantized encoder's posterior and decoded by the shipped decoder; mean bits per pixel and PSNR,
against the full-precision encoder at the same λ.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.io import atomic_write
from codecframe_bayesq.adapters import Adapter
from codecframe_bayesq.api import quantize
from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.heldout import posterior, psnr

LAMBDAS = (0.5, 2.0, 8.0)
METHODS = {"rtn": {"method": "rtn"}, "gptq": {"method": "gptq"}, "bayesq": {}}


class EncoderOutput(nn.Module):
    """The VAE encoder's raw output (μ and log σ² of every latent), flattened per image."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)


def calibration(count: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(data.random_crops(data.load_split(data.TRAIN_V2), 64, count, rng))


def rd(codec: ImageCodec, model: nn.Module, images: dict[str, np.ndarray]) -> list[dict]:
    """Per image and λ: bits per pixel and PSNR of the file coded from ``model``'s posterior."""
    rows = []
    for name, image in images.items():
        mean, std = posterior(model, image)
        post = GaussianPosterior(mean=mean, std=std)
        for lam in LAMBDAS:
            blob = codec.encode_posterior(post, image.shape[:2], lam)
            decoded, _ = ImageCodec.decode(blob)
            rows.append({"image": name, "lambda": lam, "bpp": 8 * len(blob) / (image.shape[0] * image.shape[1]),
                         "psnr": psnr(image, decoded)})
    return rows


def summary(rows: list[dict], reference: list[dict]) -> dict:
    """Mean bpp and PSNR per λ, and the change against the full-precision encoder."""
    out = {}
    for lam in LAMBDAS:
        mine = [r for r in rows if r["lambda"] == lam]
        ref = [r for r in reference if r["lambda"] == lam]
        bpp, db = np.mean([r["bpp"] for r in mine]), np.mean([r["psnr"] for r in mine])
        out[str(lam)] = {"bpp": float(bpp), "psnr": float(db),
                         "bpp_change_percent": float(100 * (bpp / np.mean([r["bpp"] for r in ref]) - 1)),
                         "psnr_change_db": float(db - np.mean([r["psnr"] for r in ref]))}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="result JSON (written atomically)")
    p.add_argument("--budgets", default="4,3")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    codec = ImageCodec()
    vae = codec.model
    images = {n: data.load(n) for n in data.HELDOUT_PHOTOS}
    calib = calibration(args.samples, args.seed)
    reference = rd(codec, vae, images)
    result = {"command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
              "encoder_weights": sum(m.weight.numel() for m in vae.encoder if isinstance(m, nn.Conv2d)),
              "lambdas": LAMBDAS, "full_precision": summary(reference, reference), "runs": []}
    print(json.dumps({"full_precision": result["full_precision"]}), flush=True)
    for budget in (float(b) for b in args.budgets.split(",")):
        for method, opts in METHODS.items():
            work = EncoderOutput(codec.model.encoder)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                qm = quantize(work, calib, budget, adapter=Adapter(kind="embedding", normalize=False),
                              seed=args.seed, **opts)
            seconds = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as tmp:
                sizes = qm.save(Path(tmp) / "encoder.cfr")
            model = type(vae)(vae.config)
            model.load_state_dict(vae.state_dict())
            model.encoder.load_state_dict(qm.model.encoder.state_dict())
            rows = rd(codec, model.eval(), images)
            run = {"method": method, "budget": budget, "seconds": seconds,
                   "quantized_bits_per_weight": sizes["quantized_bits_per_weight"],
                   "code_bits_per_weight": sizes["code_bits_per_weight"], "rd": summary(rows, reference),
                   "per_image": rows}
            result["runs"].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "per_image"}), flush=True)
    if args.out is not None:
        atomic_write(args.out, (json.dumps(result, indent=1) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
