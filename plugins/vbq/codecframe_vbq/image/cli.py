"""``codecframe image``: compress, decompress and R–D evaluation with the shipped VBQ image codec."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from codecframe.errors import InputError
from codecframe.io import atomic_write, read_bytes

__all__ = ["register", "DEFAULT_LAMBDA"]

#: λ used when neither --lambda nor --bpp is given.
DEFAULT_LAMBDA = 1.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``image compress|decompress|rd`` to the codecframe CLI."""
    image = subparsers.add_parser("image", help="variable-rate image codec (VBQ on one VAE; codecframe-vbq)",
                                  description="Variable-rate image compression with VBQ on one VAE (codecframe-vbq).")
    sub = image.add_subparsers(dest="image_command", metavar="ACTION")
    image.set_defaults(func=lambda args: (image.print_help(sys.stderr), 2)[1])

    c = sub.add_parser("compress", help="image file -> .cfr container")
    c.add_argument("input", type=Path, help="an 8-bit image Pillow can read (PNG, JPEG, ...)")
    c.add_argument("-o", "--output", type=Path, required=True)
    rate = c.add_mutually_exclusive_group()
    rate.add_argument("--lambda", dest="lam", type=float, help=f"rate-distortion trade-off λ > 0 (default {DEFAULT_LAMBDA}); larger is smaller")
    rate.add_argument("--bpp", type=float, help="largest file size in bits per pixel (header included); λ by bisection")
    c.add_argument("--refine", type=int, default=0, metavar="N",
                   help="N steps of encoder-side refinement of the posterior on this image (imports torch; "
                   "the file format and decoder are unchanged; default 0)")
    c.set_defaults(func=_compress)

    d = sub.add_parser("decompress", help=".cfr container -> PNG")
    d.add_argument("input", type=Path)
    d.add_argument("-o", "--output", type=Path, required=True)
    d.set_defaults(func=_decompress)

    r = sub.add_parser("rd", help="R-D curves against JPEG, WebP, AVIF and uniform quantization: JSON, Markdown, PNG plot",
                       description="Rate-distortion evaluation of the shipped VBQ codec (actual file sizes, PSNR on "
                       "RGB 8-bit) against Pillow JPEG 4:2:0 and 4:4:4, WebP, AVIF and uniform quantization of the "
                       "same VAE, on the held-out images or on your own files.")
    r.add_argument("inputs", nargs="*", type=Path, help="image files or folders (default: the six held-out photographs)")
    r.add_argument("--out-dir", type=Path, default=Path("vbq-rd"))
    r.add_argument("--images", nargs="+", default=None, help="held-out photographs by name (default: all six, see docs/vbq.md)")
    r.add_argument("--methods", nargs="+", default=None,
                   help="subset of vbq vbq-raw-sigma vbq-mean-sigma uniform-range uniform-step kmeans jpeg jpeg-444 "
                   "webp avif (default: all; uniform, k-means and the σ variants need torch)")
    r.add_argument("--previous", nargs=2, default=None, metavar=("VAE", "TABLES"),
                   help="also evaluate another model (e.g. the previously shipped one, or one you trained) as method "
                   "vbq-previous: its VAE weights and VBQ tables, each an asset reference sha256:... or a file")
    r.add_argument("--bpp-range", nargs=2, type=float, default=None, metavar=("LO", "HI"),
                   help="rates of the baseline over which the range BD-rates are taken (default 0.15 0.6)")
    r.set_defaults(func=_rd)


def _compress(args: argparse.Namespace) -> int:
    from .codec import ImageCodec
    from .files import read_image

    t0 = time.perf_counter()
    image, notes = read_image(args.input)
    for note in notes:
        print(f"codecframe image: {note}", file=sys.stderr)
    codec = ImageCodec()
    if args.bpp is not None:
        encoded = codec.encode_bpp(image, args.bpp, refine=args.refine)
    else:
        encoded = codec.encode(image, DEFAULT_LAMBDA if args.lam is None else args.lam, refine=args.refine)
    atomic_write(args.output, encoded.data)
    print(f"{args.output}: {len(encoded.data)} bytes, {encoded.bpp:.4f} bpp, λ = {encoded.lam:.6g}, "
          f"{image.shape[1]}x{image.shape[0]}, {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


def _decompress(args: argparse.Namespace) -> int:
    from .codec import ImageCodec
    from .files import write_png

    t0 = time.perf_counter()
    image, _ = ImageCodec.decode(read_bytes(args.input))
    write_png(args.output, image)
    print(f"{args.output}: {image.shape[1]}x{image.shape[0]}, {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    return 0


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".ppm", ".pgm", ".avif"}


def _user_images(paths: list[Path]) -> dict[str, "np.ndarray"]:
    """name → uint8 RGB of the image files named or found (by suffix) in the folders named;
    grey images are evaluated as R = G = B."""
    import numpy as np

    from .files import read_image

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(f"{path}: no image files ({', '.join(sorted(_IMAGE_SUFFIXES))})")
            files += found
        else:
            files.append(path)
    out: dict[str, np.ndarray] = {}
    for f in files:
        image, notes = read_image(f)
        for note in notes:
            print(f"codecframe image rd: {note}", file=sys.stderr)
        name = f.stem if f.stem not in out else str(f)
        out[name] = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    return out


def _asset(value: str) -> str:
    """An asset reference as given, or that of the file ``value`` (registered for this process)."""
    from codecframe.assets import register_asset

    if value.startswith("sha256:"):
        return value
    if not Path(value).is_file():
        raise InputError(f"--previous: {value!r} is neither an asset reference sha256:... nor a file")
    return register_asset(value)


def _rd(args: argparse.Namespace) -> int:
    from . import data
    from .codec import ImageCodec
    from .evaluate import ALL_METHODS, evaluate
    from .report import BPP_RANGE, markdown, plot, summarize

    if args.inputs and args.images:
        raise InputError("give either image files/folders or --images (held-out names), not both")
    if args.inputs:
        images: dict | tuple = _user_images(args.inputs)
    else:
        images = tuple(args.images or data.HELDOUT_PHOTOS)
        unknown = [n for n in images if n not in data.HELDOUT_PHOTOS]
        if unknown:
            raise InputError(f"not held-out photographs: {', '.join(unknown)} (choose from {', '.join(data.HELDOUT_PHOTOS)})")
    bad = [m for m in args.methods or () if m not in ALL_METHODS]
    if bad:
        raise InputError(f"unknown method(s) {', '.join(bad)}; choose from {', '.join(ALL_METHODS)}")
    lo, hi = args.bpp_range or BPP_RANGE
    if not 0 < lo < hi:
        raise InputError(f"--bpp-range needs 0 < LO < HI, got {lo:g} {hi:g}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    others = None
    if args.previous:
        vae, tables = (_asset(v) for v in args.previous)
        previous = ImageCodec(vae=vae, tables=tables)
        previous.check_tables()  # before the long sweep, not after it
        others = {"vbq-previous": previous}
    result = evaluate(ImageCodec(), images, methods=args.methods, log=lambda s: print(s, file=sys.stderr, flush=True),
                      other_codecs=others)
    summary = summarize(result, (lo, hi))
    atomic_write(args.out_dir / "rd.json", json.dumps({**result, "summary": summary}, indent=1).encode())
    atomic_write(args.out_dir / "rd.md", markdown(result, summary).encode())
    plot(result, args.out_dir / "rd.png")
    print(f"wrote {args.out_dir}/rd.json, rd.md, rd.png", file=sys.stderr)
    return 0
