"""Tokenizer and codec: images ↔ codebook indices, and ``.cfr`` files through the core pipeline.

    >>> tok = Tokenizer.load()                    # the shipped checkpoint
    >>> idx = tok.encode(images)                  # (N, 8, 8) in [0, 1] -> (N, 4, 4) int32
    >>> rec = tok.decode(idx)                     # -> (N, 8, 8) float32 in [0, 1]
    >>> data = tok.compress(images); tok.decompress(data)       # container bytes
    >>> data = tok.compress_image(photo); tok.decompress_image(data)   # any 2-D gray image
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from codecframe.assets import asset_ref, register_asset
from codecframe.errors import FormatError, InputError
from codecframe.io import read_bytes
from codecframe.pipeline import Pipeline, decode as decode_container

from .checkpoint import Codebook, load_model
from .model import Autoencoder
from .posterior import CategoricalPosterior
from .shipped import SHIPPED_CHECKPOINT
from .train import TrainConfig, check_images, check_pixels

__all__ = ["Tokenizer", "GROUP", "META_KEY"]

#: Group name of the token grid in a container, and the meta key holding the image layout.
GROUP = "tokens"
META_KEY = "gmvq"
BATCH = 8192


class Tokenizer:
    """A trained GM-VQ (or baseline) model with its codebook asset reference ``ref``."""

    def __init__(self, model: Autoencoder, codebook: Codebook, ref: str, train_config: TrainConfig | None = None):
        self.model = model
        self.codebook = codebook
        self.ref = ref
        self.train_config = train_config
        self._pipelines: dict[str, Pipeline] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Tokenizer:
        """Load a checkpoint file (default: the shipped one) and register it as an asset in this process."""
        path = Path(path) if path is not None else SHIPPED_CHECKPOINT
        data = read_bytes(path)
        model, codebook, train_cfg = load_model(data)
        ref = asset_ref(data)
        if path != SHIPPED_CHECKPOINT:
            register_asset(path, provider=f"checkpoint {path}")
        return cls(model, codebook, ref, train_cfg)

    # ------------------------------------------------------------------ shapes
    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    @property
    def grid(self) -> int:
        return self.model.config.grid

    @property
    def codebook_size(self) -> int:
        return self.codebook.size

    # ------------------------------------------------------------------ tokens
    @torch.no_grad()
    def logits(self, images: np.ndarray) -> np.ndarray:
        """float32 ``(N, g, g, C)`` code logits of ``(N, S, S)`` images in [0, 1]."""
        x = check_images(images, self.image_size)
        out = [self.model.logits(torch.from_numpy(x[i: i + BATCH])).numpy() for i in range(0, len(x), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, self.grid, self.grid, self.codebook_size), np.float32)

    def posterior(self, images: np.ndarray) -> CategoricalPosterior:
        """q(c|x) for every token position of ``images``."""
        return CategoricalPosterior(logits=self.logits(images))

    def encode(self, images: np.ndarray) -> np.ndarray:
        """int32 ``(N, g, g)`` indices: the most likely code per position."""
        return self.posterior(images).point().astype(np.int32)

    def check_indices(self, indices: np.ndarray) -> np.ndarray:
        """``indices`` as int64 ``(N, g, g)`` in 0..C-1; InputError otherwise."""
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu":
            raise InputError(f"indices must be integers, got dtype {idx.dtype}")
        if idx.ndim == 2:
            idx = idx[None]
        if idx.ndim != 3 or idx.shape[1:] != (self.grid, self.grid):
            raise InputError(f"indices must have shape (N, {self.grid}, {self.grid}), got {np.shape(indices)}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.codebook_size):
            raise InputError(f"indices must be in 0..{self.codebook_size - 1}, got {idx.min()}..{idx.max()}")
        return idx.astype(np.int64)

    @torch.no_grad()
    def decode_latents(self, latents: np.ndarray) -> np.ndarray:
        """float32 ``(N, S, S)`` images in [0, 1] from ``(N, g, g, L)`` codewords."""
        z = torch.from_numpy(np.ascontiguousarray(latents, np.float32))
        out = [self.model.decode(z[i: i + BATCH]).clamp(0.0, 1.0).numpy() for i in range(0, len(z), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, self.image_size, self.image_size), np.float32)

    def decode(self, indices: np.ndarray) -> np.ndarray:
        """float32 ``(N, S, S)`` images in [0, 1] from ``(N, g, g)`` indices."""
        return self.decode_latents(self.codebook.vectors[self.check_indices(indices)])

    def indices_of(self, latents: np.ndarray) -> np.ndarray:
        """Invert the codeword lookup exactly (codewords are unique in a valid checkpoint)."""
        lat = np.ascontiguousarray(latents, np.float32)
        if lat.ndim < 1 or lat.shape[-1] != self.codebook.dim:
            raise FormatError(f"latents of shape {lat.shape} do not match the codeword length {self.codebook.dim}")
        keys = {row.tobytes(): i for i, row in enumerate(self.codebook.vectors)}
        flat = lat.reshape(-1, self.codebook.dim)
        try:
            idx = np.fromiter((keys[row.tobytes()] for row in flat), np.int32, count=len(flat))
        except KeyError:
            raise FormatError("decoded latents are not codewords of this tokenizer's codebook") from None
        return idx.reshape(lat.shape[:-1])

    # ------------------------------------------------------------------ containers
    def pipeline(self, index_model: str = "usage") -> Pipeline:
        """``categorical`` posterior → ``gmvq`` quantizer (this codebook) → fixed allocator → range coder."""
        if index_model not in self._pipelines:
            self._pipelines[index_model] = Pipeline(
                posterior="categorical",
                quantizer={"id": "gmvq", "codebook": self.ref, "model": index_model},
                allocator="fixed",
                entropy_coder="range",
            )
        return self._pipelines[index_model]

    def _encode(self, post: CategoricalPosterior, layout: dict[str, Any], index_model: str | None) -> bytes:
        """Container of ``post``; ``index_model`` None picks the cheapest index model for this data."""
        if index_model is None:
            pipe = self.pipeline()
            index_model = pipe.quantizer.cheapest_setting(post, pipe.entropy_coder.precision)["index_model"]
        return self.pipeline(index_model).encode({GROUP: post}, meta={META_KEY: layout})

    def compress(self, images: np.ndarray, index_model: str | None = None) -> bytes:
        """Container bytes holding the tokens of ``(N, S, S)`` images."""
        post = self.posterior(images)
        return self._encode(post, {"kind": "images", "count": int(post.shape[0])}, index_model)

    def _read(self, data: bytes, kind: str | None) -> tuple[np.ndarray, dict[str, Any]]:
        decoded = decode_container(data)
        quantizer = decoded.header["pipeline"]["quantizer"]
        if quantizer.get("id") != "gmvq" or GROUP not in decoded.arrays:
            raise FormatError("not a GM-VQ token container (no 'gmvq' quantizer and 'tokens' group)")
        if quantizer.get("codebook") != self.ref:
            raise FormatError(
                f"container was made with codebook {quantizer.get('codebook')}, this tokenizer has {self.ref}"
            )
        layout = decoded.meta.get(META_KEY)
        if not isinstance(layout, dict) or layout.get("kind") not in ((kind,) if kind else ("image", "images")):
            raise FormatError(f"container meta '{META_KEY}' does not describe {kind or 'images'}")
        latents = decoded.arrays[GROUP]
        if latents.ndim != 4 or latents.shape[1:3] != (self.grid, self.grid):
            raise FormatError(f"container tokens have shape {latents.shape[:-1]}, expected (N, {self.grid}, {self.grid})")
        return latents, layout

    def decompress(self, data: bytes) -> np.ndarray:
        """Images from :meth:`compress` output."""
        return self.decode_latents(self._read(data, "images")[0])

    def decompress_indices(self, data: bytes) -> np.ndarray:
        """The int32 ``(N, g, g)`` indices stored by :meth:`compress`."""
        return self.indices_of(self._read(data, "images")[0])

    # ------------------------------------------------------------------ whole images
    def compress_image(self, image: np.ndarray, index_model: str | None = None) -> bytes:
        """Container bytes of a 2-D gray image in [0, 1] of any size, as S×S patches (edges padded by reflection)."""
        img = np.asarray(image)
        if img.ndim != 2:
            extra = " (convert colour images to gray first, e.g. data.image_to_gray)" if img.ndim == 3 else ""
            raise InputError(f"compress_image takes a 2-D gray image, got shape {img.shape}{extra}")
        if img.shape[0] < 1 or img.shape[1] < 1:
            raise InputError("image is empty")
        s = self.image_size
        h, w = img.shape
        ph, pw = -h % s, -w % s
        padded = np.pad(check_pixels(img), ((0, ph), (0, pw)), mode="symmetric")
        tiles = padded.reshape((h + ph) // s, s, (w + pw) // s, s).swapaxes(1, 2).reshape(-1, s, s)
        return self._encode(self.posterior(tiles), {"kind": "image", "height": h, "width": w}, index_model)

    def decompress_image(self, data: bytes) -> np.ndarray:
        """The float32 gray image of :meth:`compress_image` output."""
        return self._untile(*self._read(data, "image"))

    def decompress_any(self, data: bytes) -> np.ndarray:
        """A 2-D image for :meth:`compress_image` output, ``(N, S, S)`` images for :meth:`compress` output."""
        latents, layout = self._read(data, None)
        return self._untile(latents, layout) if layout["kind"] == "image" else self.decode_latents(latents)

    def _untile(self, latents: np.ndarray, layout: dict[str, Any]) -> np.ndarray:
        h, w = layout.get("height"), layout.get("width")
        s = self.image_size
        if not all(isinstance(v, int) and v > 0 for v in (h, w)):
            raise FormatError("image layout needs positive integer height and width")
        rows, cols = -(-h // s), -(-w // s)
        if len(latents) != rows * cols:
            raise FormatError(f"{len(latents)} patches do not tile a {h}x{w} image")
        tiles = self.decode_latents(latents)
        return tiles.reshape(rows, cols, s, s).swapaxes(1, 2).reshape(rows * s, cols * s)[:h, :w]
