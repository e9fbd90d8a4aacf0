"""How many bits would a causal context model save on a VBQ image model's indices? (validation images)

    python benchmarks/vbq/context_gain.py --lambdas 0.25 1 4 --json benchmarks/vbq/context_gain-v3.json
    A=plugins/vbq/codecframe_vbq/assets
    python benchmarks/vbq/context_gain.py --vae $A/image-vae-v2.safetensors --tables $A/image-tables-v2.safetensors \
        --lambdas 0.25 1 4 --json benchmarks/vbq/context_gain-v2.json
    python benchmarks/vbq/context_gain.py --vae S8V/image-vae.safetensors --tables S8V/image-tables.safetensors \
        --lambdas 0.25 1 4 --json benchmarks/vbq/context_gain-s8.json

The indices of the training latents (the images and recoloured copies the tables are fitted on,
:func:`~codecframe_vbq.image.latents.augmented_images`) and of each validation image are found by
the codec's own VBQ search at λ. Per image, the ideal code length in bits per pixel under

- ``static``: one histogram per channel with the shipped level back-off (``VBQTables.counts``),
  refitted here on the training indices (it equals the shipped tables' when they were fitted on the
  same latents);
- ``count``: one histogram per (channel, c), c = how many of the already-decoded neighbours left,
  top, top-left, top-right and the same position of the previous channel are off the median (0..3+);
- ``magnitude``: one per (channel, b), b = the mean |ξ − ½| of left, top and previous-channel
  indices in 6 buckets — a crude, decodable stand-in for a hyperprior's per-latent scale.

Both contexts are causal in the container's channel-major raster order, so a decoder could form
them. Also reported: PSNR of the decoded image at that λ, latents per pixel, the share of bits spent
on median ("off") indices and the bits per non-median index.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from codecframe.assets import register_asset
from codecframe.types import Quantized
from codecframe.io import atomic_write
from codecframe_vbq.grid import levels, median_index, xi
from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.heldout import psnr
from codecframe_vbq.image.latents import augmented_images

MAGNITUDE_EDGES = (0.02, 0.06, 0.12, 0.2, 0.3)
COUNT_CAP = 3


def neighbours(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Left, top, top-left, top-right (same channel) and same position in the previous channel of every
    entry of (C, H, W) ``values``, zero outside."""
    c, h, w = values.shape
    pad = np.zeros((c, h + 1, w + 2), values.dtype)
    pad[:, 1:, 1:-1] = values
    prev = np.zeros_like(values)
    prev[1:] = values[:-1]
    return pad[:, 1:, :-2], pad[:, :-1, 1:-1], pad[:, :-1, :-2], pad[:, :-1, 2:], prev


def count_context(k: np.ndarray, median: int) -> np.ndarray:
    left, top, tl, tr, prev = neighbours((k != median).astype(np.int64))
    return np.minimum(left + top + tl + tr + prev, COUNT_CAP)


def magnitude_context(k: np.ndarray, deviation: np.ndarray) -> np.ndarray:
    left, top, _, _, prev = neighbours(deviation[k])
    return np.digitize((left + top + prev) / 3, MAGNITUDE_EDGES)


def backoff_counts(hist: np.ndarray, r: int, shift: int) -> np.ndarray:
    """``VBQTables.counts`` for histograms of any leading shape (..., K)."""
    lev = levels(r)
    g = np.stack([hist[..., lev == n].sum(axis=-1) for n in range(r + 1)], axis=-1)
    return (hist << (r + shift)) + ((g[..., lev] + 1) << (r - lev))


def code_bits(counts: np.ndarray, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """Ideal code length in bits of each symbol under its row of ``counts``."""
    return -np.log2(counts[rows, symbols] / counts.sum(axis=1)[rows])


def measure(codec: ImageCodec, lambdas: list[float], copies: int = 3, synthetic: int = 16) -> list[dict]:
    quantizer = codec.quantizer
    r, shift = quantizer.config.r_max, quantizer.tables.backoff_shift
    median, deviation = median_index(r), np.abs(xi(r) - 0.5)
    size = deviation.size
    contexts = {"count": (COUNT_CAP + 1, lambda k: count_context(k, median)),
                "magnitude": (len(MAGNITUDE_EDGES) + 1, lambda k: magnitude_context(k, deviation))}

    def indices(q: Quantized) -> np.ndarray:
        return q.symbols.reshape(q.shape).astype(np.int64)

    train = [codec.posterior(im) for im in augmented_images(copies=copies, synthetic=synthetic)]
    images = {name: data.load(name) for name in data.VALIDATION_V2}
    valid = {name: (image, codec.posterior(image)) for name, image in images.items()}
    channels = train[0].mean.shape[0]
    rows = []
    for lam in lambdas:
        hists = {"static": np.zeros((channels, 1, size), np.int64)}
        hists |= {name: np.zeros((channels, n, size), np.int64) for name, (n, _) in contexts.items()}
        for p in train:
            k = indices(quantizer.quantize(p, {"lambda": lam}))
            chan = np.broadcast_to(np.arange(channels)[:, None, None], k.shape).ravel()
            np.add.at(hists["static"], (chan, 0, k.ravel()), 1)
            for name, (_, ctx) in contexts.items():
                np.add.at(hists[name], (chan, ctx(k).ravel(), k.ravel()), 1)
        counts = {name: backoff_counts(h, r, shift).reshape(-1, size) for name, h in hists.items()}
        shipped = quantizer.tables.counts(quantizer.tables.table_index(lam))
        for name, (image, p) in valid.items():
            q = quantizer.quantize(p, {"lambda": lam})
            k = indices(q)
            pixels = image.shape[0] * image.shape[1]
            chan = np.broadcast_to(np.arange(channels)[:, None, None], k.shape).ravel()
            off = k.ravel() == median
            bits = {"static": code_bits(counts["static"], chan, k.ravel())}
            for cname, (n, ctx) in contexts.items():
                bits[cname] = code_bits(counts[cname], chan * n + ctx(k).ravel(), k.ravel())
            static = bits["static"].sum()
            decoded = codec.network.decode_image(quantizer.dequantize(q), image.shape[:2])
            row = {"lambda": lam, "image": name, "psnr": psnr(image, decoded),
                   "bpp_shipped_tables": float(code_bits(shipped, chan, k.ravel()).sum() / pixels),
                   **{f"bpp_{n}": float(b.sum() / pixels) for n, b in bits.items()},
                   **{f"saving_{n}": float(1 - bits[n].sum() / static) for n in contexts},
                   "latents_per_pixel": k.size / pixels, "median_fraction": float(off.mean()),
                   "static_share_on_median": float(bits["static"][off].sum() / static),
                   "static_bits_per_active": float(bits["static"][~off].sum() / max(int((~off).sum()), 1))}
            rows.append(row)
            print(json.dumps({a: round(v, 4) if isinstance(v, float) else v for a, v in row.items()}), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vae", default=None, help="VAE weights file (default: the shipped model)")
    ap.add_argument("--tables", default=None, help="its VBQ tables file (default: the shipped tables)")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.25, 1.0, 4.0])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if (args.vae is None) != (args.tables is None):
        ap.error("give both --vae and --tables, or neither")
    codec = ImageCodec() if args.vae is None else ImageCodec(register_asset(args.vae), register_asset(args.tables))
    codec.check_tables()
    rows = measure(codec, args.lambdas)
    if args.json:
        atomic_write(args.json, json.dumps({"vae": codec.vae_ref, "tables": codec.quantizer.config.tables,
                                            "rows": rows}, indent=1).encode())


if __name__ == "__main__":
    main()
