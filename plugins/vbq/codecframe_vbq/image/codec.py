"""The variable-rate image codec: VAE posterior → VBQ at λ → container, and back.

The container is an ordinary codecframe container (group ``"latent"``, shape (C, ⌈H/s⌉, ⌈W/s⌉), s the
VAE's total stride, :attr:`.network.VAENetwork.stride`)
whose meta entry ``"vbq_image"`` holds the image size and the sha256 of the VAE weights (and
``"channels": 1`` for a grey image); the VBQ tables are referenced by the quantizer config.
``codecframe.decode`` alone recovers the latents.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from codecframe import Pipeline, container, decode as decode_container
from codecframe.assets import load_asset, parse_ref
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import CodecframeError, FormatError, InputError, LimitError

from ..quantizer import VBQQuantizer, check_lambda
from .files import MAX_PIXELS
from .network import VAENetwork
from .shipped import TABLES_REF, VAE_REF
from .weights import load_network, load_vae

if TYPE_CHECKING:
    from .vae import ImageVAE

__all__ = ["META_KEY", "ImageCodec", "Encoded", "load_model", "load_torch_model", "synthesize"]

META_KEY = "vbq_image"
GROUP = "latent"
#: log2 λ range searched when a target bitrate is given.
LOG2_LAMBDA_RANGE = (-12.0, 16.0)
_MODELS: dict[str, tuple[VAENetwork, dict]] = {}


def load_model(ref: str) -> tuple[VAENetwork, dict]:
    """The codec's (numpy) network with VAE weights ``ref`` (a registered asset), loaded once per process."""
    if ref not in _MODELS:
        _MODELS[ref] = load_network(load_asset(ref))
    return _MODELS[ref]


def load_torch_model(ref: str) -> ImageVAE:
    """The torch model with VAE weights ``ref``, for training-side analysis (imports torch)."""
    return load_vae(load_asset(ref))[0]


@dataclasses.dataclass(frozen=True)
class Encoded:
    """A compressed image: container bytes, the λ used and the size in bits per pixel."""

    data: bytes
    lam: float
    bpp: float


class ImageCodec:
    """Compress uint8 RGB (H, W, 3) or grey (H, W) images of any size with one VAE at any rate
    (λ or a target bpp). A grey image is coded as R = G = B with ``"channels": 1`` in the meta, and
    decodes to a grey image (the mean of the decoded channels).

    The ``vbq`` quantizer searches with the σ calibration its tables record (the shipped tables:
    σ replaced by its per-channel training mean; the raw-σ tables record none). Decoding never
    depends on it.
    """

    def __init__(self, vae: str = VAE_REF, tables: str = TABLES_REF, precision: int = 24,
                 entropy_coder: str = "range", quantizer_options: dict[str, Any] | None = None) -> None:
        parse_ref(vae)
        self.vae_ref = vae
        self.quantizer = VBQQuantizer(tables=tables, channel_axis=0, **(quantizer_options or {}))
        self.coder_config = {"id": entropy_coder, "precision": precision}

    @cached_property
    def network(self) -> VAENetwork:
        """The VAE's forward passes in numpy, which the codec runs."""
        return load_model(self.vae_ref)[0]

    @cached_property
    def model(self) -> ImageVAE:
        """The same VAE as a torch module (gradients, analysis); the codec itself does not use it."""
        return load_torch_model(self.vae_ref)

    # ------------------------------------------------------------------ encoder
    def posterior(self, image: np.ndarray) -> GaussianPosterior:
        """The VAE posterior of ``image`` (uint8 (H, W, 3), or (H, W) grey as R = G = B),
        edge-padded to multiples of the VAE's stride (in memory-bounded tiles for large images)."""
        image = _check_image(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        mean, std = self.network.encode_image(image)
        return GaussianPosterior(mean=mean, std=std)

    @cached_property
    def encoder_refs(self) -> frozenset[str]:
        """The VAEs whose tables fit this codec's encoder: its own and, for weights whose decoder alone was
        tuned (``resumable --tune-decoder``: the encoder, hence every posterior, is unchanged), the
        weights the tuning started from."""
        settings = load_model(self.vae_ref)[1].get("info", {}).get("training", {}).get("settings", {})
        base = settings.get("init_from") if settings.get("tune_decoder") else None
        return frozenset({self.vae_ref, base} - {None, ""})

    def check_tables(self) -> None:
        """InputError if the tables record (``info["vae"]``) that they were fitted for a VAE with another
        encoder than this codec's (:attr:`encoder_refs`); tables that record no VAE are taken as they are."""
        tables = self.quantizer.tables
        fitted_for = None if tables is None else tables.info.get("vae")
        if fitted_for is not None and fitted_for not in self.encoder_refs:
            raise InputError(f"the VBQ tables {self.quantizer.config.tables} were fitted for the VAE {fitted_for}, "
                             f"not for {self.vae_ref}: pass that VAE's tables (or refit them with build --weights)")

    def pipeline(self, lam: float) -> Pipeline:
        return Pipeline(quantizer=self.quantizer, allocator={"id": "fixed", "setting": {"lambda": float(lam)}},
                        entropy_coder=self.coder_config)

    def encode_posterior(self, post: GaussianPosterior, size: tuple[int, int], lam: float, grey: bool = False) -> bytes:
        """The container of the VAE posterior ``post`` at λ (``grey``: decode to a grey image);
        InputError if the tables were fitted for another VAE (:meth:`check_tables`)."""
        self.check_tables()
        meta = {META_KEY: {"height": int(size[0]), "width": int(size[1]), "vae": self.vae_ref,
                           **({"channels": 1} if grey else {})}}
        return self.pipeline(check_lambda(lam, "--lambda")).encode({GROUP: post}, meta=meta)

    def refined_posterior(self, image: np.ndarray, refine: int = 0) -> GaussianPosterior:
        """:meth:`posterior`, then ``refine`` steps of per-image refinement (:mod:`.refine`; torch)."""
        image = _check_image(image)
        post = self.posterior(image)
        if refine:
            from .refine import refine_posterior

            rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
            post = refine_posterior(self.model, rgb, post, refine)
        return post

    def encode(self, image: np.ndarray, lam: float, refine: int = 0) -> Encoded:
        """Compress at λ (larger λ: fewer bits); ``refine``: steps of encoder-side refinement."""
        check_lambda(lam, "--lambda")
        image = _check_image(image)
        data = self.encode_posterior(self.refined_posterior(image, refine), image.shape[:2], lam, image.ndim == 2)
        return Encoded(data, float(lam), 8 * len(data) / (image.shape[0] * image.shape[1]))

    def encode_bpp(self, image: np.ndarray, bpp: float, iterations: int = 30, refine: int = 0) -> Encoded:
        """The best quality whose file (header included) is at most ``bpp`` bits per pixel.

        Bisection on log2 λ over :data:`LOG2_LAMBDA_RANGE`; InputError if even the largest λ
        gives a bigger file.
        """
        if isinstance(bpp, bool) or not isinstance(bpp, (int, float)) or not math.isfinite(bpp) or bpp <= 0:
            raise InputError(f"--bpp must be a finite number > 0, got {bpp!r}")
        image = _check_image(image)
        post = self.refined_posterior(image, refine)
        pixels = image.shape[0] * image.shape[1]
        budget = bpp * pixels / 8

        def attempt(log2_lam: float) -> Encoded:
            data = self.encode_posterior(post, image.shape[:2], 2.0**log2_lam, image.ndim == 2)
            return Encoded(data, 2.0**log2_lam, 8 * len(data) / pixels)

        lo, hi = LOG2_LAMBDA_RANGE
        best = attempt(hi)
        if len(best.data) > budget:
            raise InputError(f"--bpp {bpp} is unreachable for this {image.shape[1]}x{image.shape[0]} image: "
                             f"the smallest file is {best.bpp:.4f} bpp ({len(best.data)} bytes, header included)")
        first = attempt(lo)
        if len(first.data) <= budget:
            return first
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            trial = attempt(mid)
            if len(trial.data) <= budget:
                best, hi = trial, mid
            else:
                lo = mid
        return best

    # ------------------------------------------------------------------ decoder
    @staticmethod
    def decode(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
        """uint8 image (RGB (H, W, 3), or grey (H, W) for a file with ``"channels": 1``) and the
        container header from ``data`` (any codec instance's output).

        The header is checked (image size within :data:`~.files.MAX_PIXELS`, else LimitError; latent
        shape, VAE reference and channel count) before any symbol is decoded; the decoder network
        then runs in memory-bounded tiles (:meth:`~.network.VAENetwork.decode_image`).
        """
        h, w, grey, network = _check_image_header(container.read(data).header)
        decoded = decode_container(data)
        return synthesize(network, decoded.arrays[GROUP], (h, w), grey), decoded.header


def synthesize(network: VAENetwork, latent: np.ndarray, size: tuple[int, int], grey: bool = False) -> np.ndarray:
    """uint8 RGB (or ``grey``) image of height and width ``size`` from decoded latents (C, ⌈H/s⌉, ⌈W/s⌉)."""
    return network.decode_image(latent, size, grey)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or 0 in image.shape:
        raise InputError(f"the codec needs a non-empty uint8 RGB (H, W, 3) or grey (H, W) image, got {image.dtype} {image.shape}")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise LimitError(f"a {image.shape[1]}x{image.shape[0]} image exceeds the limit of {MAX_PIXELS} pixels")
    return image


def _check_image_header(header: dict[str, Any]) -> tuple[int, int, bool, VAENetwork]:
    """Image height, width, greyness and VAE of a VBQ image container header; FormatError if inconsistent."""
    meta = header.get("meta")
    info = meta.get(META_KEY) if isinstance(meta, dict) else None
    if not isinstance(info, dict) or not {"height", "width", "vae"} <= set(info) <= {"height", "width", "vae", "channels"}:
        raise FormatError(f"not a VBQ image container: meta entry {META_KEY!r} with height, width, vae is missing")
    h, w, ref = info["height"], info["width"], info["vae"]
    if "channels" in info and (isinstance(info["channels"], bool) or info["channels"] != 1):
        raise FormatError(f"VBQ image container: 'channels' must be 1 (grey) when present, got {info['channels']!r}")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in (h, w)):
        raise FormatError(f"VBQ image container: image size {w!r}x{h!r} is not positive integers")
    if h * w > MAX_PIXELS:
        raise LimitError(f"VBQ image container: image size {w}x{h} exceeds the limit of {MAX_PIXELS} pixels")
    groups = header.get("groups")
    record = groups[0] if isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict) else {}
    shape = record.get("shape")
    if record.get("name") != GROUP or not isinstance(shape, list) or len(shape) != 3:
        raise FormatError(f"VBQ image container: needs exactly one 3-D group {GROUP!r}")
    try:
        parse_ref(ref)
    except CodecframeError:
        raise FormatError(f"VBQ image container: malformed VAE reference {ref!r}") from None
    model = load_model(ref)[0]
    if list(shape[1:]) != [-(-h // model.stride), -(-w // model.stride)]:
        raise FormatError(f"VBQ image container: latent shape {shape} does not fit a {w}x{h} image")
    if shape[0] != model.config.latent:
        raise FormatError(f"VBQ image container: {shape[0]} latent channels, the VAE has {model.config.latent}")
    return h, w, "channels" in info, model
