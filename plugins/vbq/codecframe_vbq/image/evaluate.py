"""The R–D evaluation of the image codec on held-out images, every method in one run.

Methods (all on the same VAE's latents, except JPEG): VBQ over a λ sweep (the codec as given:
the shipped one searches with the calibrated σ_eff, :mod:`codecframe_vbq.calibration`); VBQ with
raw σ (α = 1) and VBQ with σ replaced by its per-channel training mean (α = 0), each with tables
refitted the same way on the training latents; per-channel uniform range with L levels; one global step Δ; per-channel k-means; and Pillow's codecs on the
pixels (:data:`PILLOW_CODECS`: JPEG with its default 4:2:0 chroma subsampling and with 4:4:4, WebP,
AVIF, each over its quality scale). Every point is a real file: ``bpp`` counts all its bytes (header included); ``bpp_ideal`` replaces the entropy-coded
payload by the ideal code length under the integer model actually coded, ``bpp_ideal_float`` by
that under the fitted float model (counts / sum), both plus the same header bytes.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from codecframe import Pipeline, container
from codecframe.assets import asset_ref
from codecframe.builtins.gaussian import GaussianPosterior

from .. import baselines as bl
from ..calibration import SigmaCalibration, fit_calibrated_tables
from ..quantizer import use_tables
from . import data
from .codec import GROUP, META_KEY, ImageCodec, synthesize
from .metrics import ms_ssim, psnr

__all__ = ["Point", "training_latents", "evaluate", "variant_codec", "DEFAULT_SWEEPS", "SIGMA_VARIANTS",
           "PILLOW_CODECS", "ALL_METHODS", "available_methods"]

#: VBQ variants evaluated beside the codec's own VBQ: method name → α of the σ calibration
#: (1: raw σ, the paper's VBQ; 0: σ replaced by its per-channel training mean).
SIGMA_VARIANTS = {"vbq-raw-sigma": 1.0, "vbq-mean-sigma": 0.0}

DEFAULT_SWEEPS = {
    "vbq": tuple(2.0 ** (k / 2) for k in range(-10, 17)),
    "uniform-range": (2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 64),
    "uniform-step": tuple(2.0 ** (k / 2) for k in range(-8, 5)),
    "kmeans": (2, 3, 4, 6, 8, 12, 16, 32),
    "jpeg": (1, 2, 3, 5, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95),
    "jpeg-444": (1, 2, 3, 5, 8, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95),
    "webp": (0, 2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100),
    "avif": (0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95),
}
#: Pillow codecs on the pixels: method → (Pillow format, feature to check, save options besides ``quality``).
PILLOW_CODECS: dict[str, tuple[str, str | None, dict]] = {
    "jpeg": ("JPEG", None, {}),  # Pillow's default chroma subsampling, 4:2:0
    "jpeg-444": ("JPEG", None, {"subsampling": 0}),
    "webp": ("WEBP", "webp", {}),
    "avif": ("AVIF", "avif", {}),
}
#: Every method, in report order.
ALL_METHODS = ("vbq", *SIGMA_VARIANTS, "uniform-range", "uniform-step", "kmeans", *PILLOW_CODECS)


def available_methods(methods: Sequence[str]) -> list[str]:
    """``methods`` less the Pillow codecs this Pillow lacks; ValueError for an unknown name."""
    from PIL import features

    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(ALL_METHODS)}")
    return [m for m in methods if m not in PILLOW_CODECS or PILLOW_CODECS[m][1] is None
            or features.check(PILLOW_CODECS[m][1])]


@dataclasses.dataclass(frozen=True)
class Point:
    """One compressed file of one image by one method at one setting."""

    method: str
    image: str
    setting: float
    bytes: int
    bpp: float
    bpp_ideal: float | None
    bpp_ideal_float: float | None
    psnr: float
    ms_ssim: float | None


def training_latents(codec: ImageCodec, offsets: Sequence[int] = (0, 8)) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and stds (C, N) of the training images, cropped to multiples of 16 at each
    (dy, dx) offset pair from ``offsets`` and also mirrored left-right (computed by the torch
    model, like the training: :meth:`~.vae.ImageVAE.encode_image`)."""
    means, stds = [], []
    for img in data.load_split(data.TRAIN):
        for dy in offsets:
            for dx in offsets:
                for flip in (False, True):
                    part = img[dy:, dx:][:, ::-1] if flip else img[dy:, dx:]
                    h, w = part.shape[0] // 16 * 16, part.shape[1] // 16 * 16
                    mean, std = codec.model.encode_image(np.ascontiguousarray(part[:h, :w]))
                    means.append(mean.reshape(mean.shape[0], -1))
                    stds.append(std.reshape(std.shape[0], -1))
    return np.concatenate(means, axis=1).astype(np.float64), np.concatenate(stds, axis=1).astype(np.float64)


def _metrics(reference: np.ndarray, image: np.ndarray) -> tuple[float, float | None]:
    return psnr(reference, image), ms_ssim(reference, image)


def _file_point(method: str, name: str, setting: float, image: np.ndarray, data_bytes: bytes,
                rec: np.ndarray, ideal_bits: float | None, float_bits: float | None) -> Point:
    pixels = image.shape[0] * image.shape[1]
    header = len(data_bytes) - sum(container.read(data_bytes).stream_sizes)
    p, m = _metrics(image, rec)
    return Point(method, name, float(setting), len(data_bytes), 8 * len(data_bytes) / pixels,
                 None if ideal_bits is None else (8 * header + ideal_bits) / pixels,
                 None if float_bits is None else (8 * header + float_bits) / pixels, p, m)


def _vbq_points(method: str, codec: ImageCodec, name: str, image: np.ndarray, post: GaussianPosterior,
                lambdas: Sequence[float]) -> list[Point]:
    q, tables, out = codec.quantizer, codec.quantizer.tables, []
    for lam in lambdas:
        data_bytes = codec.encode_posterior(post, image.shape[:2], lam)
        rec, _ = codec.decode(data_bytes)
        qz = q.quantize(post, {"lambda": lam})
        model, idx = q.symbol_model(qz, codec.coder_config["precision"])
        counts = tables.counts(qz.side["table"]).astype(np.float64)
        chan = np.repeat(np.arange(counts.shape[0]), qz.symbols.size // counts.shape[0])
        float_bits = -np.log2(counts[chan, qz.symbols] / counts.sum(axis=1)[chan]).sum()
        out.append(_file_point(method, name, lam, image, data_bytes, rec, model.information(qz.symbols, idx), float_bits))
    return out


def variant_codec(codec: ImageCodec, train_mu: np.ndarray, train_sd: np.ndarray, alpha: float) -> ImageCodec:
    """``codec``'s VAE with tables refitted on the training latents (C, N) for σ_eff of ``alpha``
    (s_c = the training mean of σ; α = 1 gives raw σ with nothing recorded), with the prior span
    and power of ``codec``'s tables."""
    calibration = None if alpha == 1 else SigmaCalibration.from_training(train_sd, alpha)
    base = codec.quantizer.tables
    tables = fit_calibrated_tables(train_mu, train_sd, calibration, base.lambdas, codec.quantizer.config.r_max,
                                   base.backoff_shift, {"variant": f"sigma calibration alpha = {alpha:g}"},
                                   prior_span=base.info.get("prior_span", "quantile"),
                                   prior_power=base.info.get("prior_power", 1.0))
    return ImageCodec(codec.vae_ref, use_tables(tables), codec.coder_config["precision"], codec.coder_config["id"])


def _codebook_quantizers(method: str, make: Callable[[float], bl.Codebooks], settings: Sequence[float],
                         train: np.ndarray) -> list[tuple[float, bl.CodebookQuantizer]]:
    """One fitted baseline quantizer per setting (codebooks and counts from the training latents)."""
    out = []
    for setting in settings:
        books = make(setting)
        counts = bl.fit_counts(train, books)
        ref = asset_ref(books.values.tobytes() + counts.tobytes())
        out.append((setting, bl.CodebookQuantizer(books, counts, f"{method} {setting:g}", ref)))
    return out


def _codebook_points(method: str, codec: ImageCodec, name: str, image: np.ndarray, post: GaussianPosterior,
                     quantizers: list[tuple[float, bl.CodebookQuantizer]]) -> list[Point]:
    out = []
    meta = {META_KEY: {"height": image.shape[0], "width": image.shape[1], "vae": codec.vae_ref}}
    for setting, q in quantizers:
        pipe = Pipeline(quantizer=q, allocator={"id": "fixed", "setting": {}}, entropy_coder=codec.coder_config)
        data_bytes = pipe.encode({GROUP: post}, meta=meta)
        rec = synthesize(codec.network, pipe.decode(data_bytes).arrays[GROUP], image.shape[:2])
        qz = q.quantize(post, {})
        model, idx = q.symbol_model(qz, codec.coder_config["precision"])
        out.append(_file_point(method, name, setting, image, data_bytes, rec, model.information(qz.symbols, idx),
                               q.float_information(qz.symbols, qz.shape)))
    return out


def _pillow_points(method: str, name: str, image: np.ndarray, qualities: Sequence[int]) -> list[Point]:
    """One real file per quality of Pillow codec ``method`` (:data:`PILLOW_CODECS`), decoded by Pillow."""
    from PIL import Image

    fmt, _, options = PILLOW_CODECS[method]
    out = []
    for quality in qualities:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=fmt, quality=int(quality), **options)
        with Image.open(io.BytesIO(buf.getvalue())) as img:
            rec = np.asarray(img.convert("RGB"))
        p, m = _metrics(image, rec)
        out.append(Point(method, name, float(quality), len(buf.getvalue()),
                         8 * len(buf.getvalue()) / (image.shape[0] * image.shape[1]), None, None, p, m))
    return out


def evaluate(codec: ImageCodec, images: Sequence[str] | Mapping[str, np.ndarray] = data.TEST, sweeps: dict | None = None,
             methods: Sequence[str] | None = None, log: Callable[[str], None] = lambda s: None,
             other_codecs: Mapping[str, ImageCodec] | None = None) -> dict:
    """All points of every method on ``images`` (held-out names of :mod:`.data`, or name → uint8 RGB
    array for any other images), plus timings; see the module docstring. Pillow codecs this Pillow
    lacks are left out (logged). ``other_codecs`` (method name → codec, e.g. a previous model's
    ``ImageCodec(vae=..., tables=...)``) are swept over the same λ as ``codec`` and reported as methods."""
    sweeps = {**DEFAULT_SWEEPS, **(sweeps or {})}
    wanted = list(methods or ALL_METHODS)
    methods = available_methods(wanted)
    for m in wanted:
        if m not in methods:
            log(f"{m}: not available in this Pillow (PIL.features.check({PILLOW_CODECS[m][1]!r}) is False); left out")
    arrays = dict(images) if isinstance(images, Mapping) else {n: data.load(n) for n in images}
    t0 = time.perf_counter()
    needs_train = any(m != "vbq" and m not in PILLOW_CODECS for m in methods)
    train_mu, train_sd = training_latents(codec) if needs_train else (None, None)
    if needs_train:
        log(f"training latents in {time.perf_counter() - t0:.1f} s")
    variants = {m: variant_codec(codec, train_mu, train_sd, a) for m, a in SIGMA_VARIANTS.items() if m in methods}
    makers = {
        "uniform-range": lambda L: bl.uniform_range_codebooks(train_mu, int(L)),
        "uniform-step": lambda d: bl.uniform_step_codebooks(train_mu, d),
        "kmeans": lambda L: bl.kmeans_codebooks(train_mu, int(L)),
    }
    fitted = {m: _codebook_quantizers(m, makers[m], sweeps[m], train_mu) for m in methods if m in makers}
    if fitted or variants:
        log(f"baselines fitted at {time.perf_counter() - t0:.1f} s")
    others = dict(other_codecs or {})
    clash = set(others) & set(ALL_METHODS)
    if clash:
        raise ValueError(f"other codecs may not reuse method names: {', '.join(sorted(clash))}")
    points: list[Point] = []
    for i, (name, image) in enumerate(arrays.items(), 1):
        post = codec.posterior(image)
        for method, other in others.items():
            t1 = time.perf_counter()
            points += _vbq_points(method, other, name, image, other.posterior(image), sweeps["vbq"])
            log(f"[{i}/{len(arrays)}] {name} {method}: {len(sweeps['vbq'])} points in {time.perf_counter() - t1:.1f} s")
        for method in methods:
            t1, before = time.perf_counter(), len(points)
            if method == "vbq":
                points += _vbq_points("vbq", codec, name, image, post, sweeps["vbq"])
            elif method in variants:
                points += _vbq_points(method, variants[method], name, image, post, sweeps["vbq"])
            elif method in fitted:
                points += _codebook_points(method, codec, name, image, post, fitted[method])
            else:
                points += _pillow_points(method, name, image, sweeps[method])
            log(f"[{i}/{len(arrays)}] {name} {method}: {len(points) - before} points in "
                f"{time.perf_counter() - t1:.1f} s (total {time.perf_counter() - t0:.0f} s)")
    return {"images": {n: list(a.shape[:2]) for n, a in arrays.items()}, "methods": methods + list(others),
            "points": [dataclasses.asdict(p) for p in points], "seconds": time.perf_counter() - t0}
