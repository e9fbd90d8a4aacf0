"""VAE weights as safetensors bytes (deterministic: one metadata key holding sorted JSON)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import safetensors.numpy

from codecframe.errors import AssetError

from .vae import ImageVAE, VAEConfig

__all__ = ["save_vae", "load_vae"]

_META_KEY = "codecframe-vbq-vae"


def save_vae(model: ImageVAE, info: dict) -> bytes:
    """The safetensors file of ``model`` (float32 tensors) with its config and ``info``."""
    tensors = {k: np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in model.state_dict().items()}
    meta = {"config": dataclasses.asdict(model.config), "info": info}
    return safetensors.numpy.save(tensors, metadata={_META_KEY: json.dumps(meta, sort_keys=True)})


def load_vae(data: bytes) -> tuple[ImageVAE, dict]:
    """The model (eval mode) and its metadata from :func:`save_vae` bytes; AssetError if malformed."""
    import torch

    try:
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8:8 + header_len])["__metadata__"][_META_KEY])
        config = VAEConfig(**meta["config"])
        model = ImageVAE(config)
        state = {k: torch.from_numpy(v.copy()) for k, v in safetensors.numpy.load(bytes(data)).items()}
        model.load_state_dict(state)
    except Exception as exc:  # any malformed file or mismatched architecture
        raise AssetError(f"VAE weights are unreadable ({type(exc).__name__}: {exc})") from None
    model.eval()
    return model, meta
