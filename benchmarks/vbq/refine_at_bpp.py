"""PSNR at a target rate with and without encoder-side refinement, against JPEG 4:2:0 at that rate.

    python benchmarks/vbq/refine_at_bpp.py --rd benchmarks/vbq/rd-v3/rd.json \
        --images astronaut coffee chelsea green-meadow storm aqua \
        --bpp 0.5 --steps 100 --json benchmarks/vbq/refine_at_bpp-v3.json

VBQ: the shipped codec's best file of at most ``--bpp`` (``ImageCodec.encode_bpp``), decoded and
scored (PSNR on RGB 8-bit), for 0 and ``--steps`` refinement steps (one torch thread). JPEG: its
R–D points from a ``codecframe image rd`` report at ``--bpp`` (``report.psnr_at``, as the report's margins).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from codecframe.io import atomic_write
from codecframe_vbq.image import data
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.metrics import psnr
from codecframe_vbq.image.report import psnr_at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rd", type=Path, required=True, help="rd.json of `codecframe image rd` with method jpeg")
    ap.add_argument("--images", nargs="+", required=True)
    ap.add_argument("--bpp", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    points = json.loads(args.rd.read_text())["points"]
    codec = ImageCodec()
    rows = []
    for name in args.images:
        image = data.load(name)
        row = {"image": name, "jpeg_psnr": psnr_at(points, "jpeg", name, args.bpp)}
        for steps in (0, args.steps):
            encoded = codec.encode_bpp(image, args.bpp, refine=steps)
            quality = psnr(image, ImageCodec.decode(encoded.data)[0])
            row[f"refine_{steps}"] = {"bpp": encoded.bpp, "psnr": quality, "margin_db": quality - row["jpeg_psnr"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        atomic_write(args.json, json.dumps({"bpp": args.bpp, "steps": args.steps, "rows": rows}, indent=1).encode())


if __name__ == "__main__":
    main()
