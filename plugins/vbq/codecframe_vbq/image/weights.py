"""VAE weights as safetensors bytes (deterministic: one metadata key holding sorted JSON)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import numpy as np
import safetensors.numpy

from codecframe.errors import AssetError
from codecframe.io import read_bytes

from .architecture import VAEConfig
from .network import VAENetwork

if TYPE_CHECKING:
    from .vae import ImageVAE

__all__ = ["save_vae", "read_vae", "load_network", "load_vae", "load_vae_file"]

_META_KEY = "codecframe-vbq-vae"


def save_vae(model: ImageVAE, info: dict) -> bytes:
    """The safetensors file of ``model`` (float32 tensors) with its config and ``info``."""
    tensors = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in model.state_dict().items()}
    meta = {"config": model.config.to_dict(), "info": info}
    return safetensors.numpy.save(tensors, metadata={_META_KEY: json.dumps(meta, sort_keys=True)})


def read_vae(data: bytes) -> tuple[VAEConfig, dict[str, np.ndarray], dict]:
    """Config, state dict (name → float32 array) and metadata of :func:`save_vae` bytes; AssetError if malformed."""
    try:
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8:8 + header_len])["__metadata__"][_META_KEY])
        return VAEConfig(**meta["config"]), safetensors.numpy.load(bytes(data)), meta
    except Exception as exc:  # any malformed file
        raise AssetError(f"VAE weights are unreadable ({type(exc).__name__}: {exc})") from None


def load_network(data: bytes) -> tuple[VAENetwork, dict]:
    """The numpy network (the codec's) and its metadata from :func:`save_vae` bytes; AssetError if malformed."""
    config, state, meta = read_vae(data)
    try:
        return VAENetwork(config, state), meta
    except (KeyError, ValueError) as exc:  # a missing tensor or an architecture this version lacks
        raise AssetError(f"VAE weights do not fit their architecture ({type(exc).__name__}: {exc})") from None


def load_vae(data: bytes) -> tuple[ImageVAE, dict]:
    """The torch model (eval mode) and its metadata from :func:`save_vae` bytes; AssetError if malformed."""
    import torch

    from .vae import ImageVAE

    config, state, meta = read_vae(data)
    try:
        model = ImageVAE(config)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    except Exception as exc:  # mismatched architecture
        raise AssetError(f"VAE weights are unreadable ({type(exc).__name__}: {exc})") from None
    model.eval()
    return model, meta


def load_vae_file(path: str | os.PathLike[str]) -> tuple[ImageVAE, dict, bytes]:
    """:func:`load_vae` of the weights file ``path``, and the file's bytes; errors name the file."""
    raw = read_bytes(path)
    try:
        model, meta = load_vae(raw)
    except AssetError as exc:
        raise AssetError(f"{path}: {exc}") from exc
    return model, meta, raw
