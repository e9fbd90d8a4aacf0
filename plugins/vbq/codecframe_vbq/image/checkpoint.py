"""Training checkpoints as safetensors (never pickle): model, Adam state, RNG states, progress.

Tensors: ``model/<name>`` (the state dict), ``adam/<i>/<key>`` (Adam's per-parameter state:
step, exp_avg, exp_avg_sq), ``rng/torch`` (torch's CPU generator state, uint8). Metadata key
``codecframe-vbq-checkpoint``: JSON with the VAE config, the run's settings, the step, CPU and
wall seconds so far, Adam's param groups and the numpy generator's state.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
import torch

from codecframe.errors import AssetError
from codecframe.io import atomic_write

from .architecture import VAEConfig
from .vae import ImageVAE

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint"]

_META_KEY = "codecframe-vbq-checkpoint"


@dataclasses.dataclass
class Checkpoint:
    """Everything needed to continue a run exactly: model, optimiser, generators and counters."""

    model: ImageVAE
    optimizer: torch.optim.Adam
    rng: np.random.Generator
    step: int
    cpu_s: float
    wall_s: float
    settings: dict[str, Any]


def save_checkpoint(path: Path, ck: Checkpoint) -> None:
    """Write ``ck`` to ``path`` atomically."""
    tensors = {f"model/{k}": np.ascontiguousarray(v.detach().numpy()) for k, v in ck.model.state_dict().items()}
    opt = ck.optimizer.state_dict()
    for i, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"adam/{i}/{key}"] = np.ascontiguousarray(torch.as_tensor(value).detach().numpy())
    tensors["rng/torch"] = torch.get_rng_state().numpy()
    meta = {"config": ck.model.config.to_dict(), "settings": ck.settings, "step": ck.step,
            "cpu_s": ck.cpu_s, "wall_s": ck.wall_s, "param_groups": opt["param_groups"],
            "numpy_rng": ck.rng.bit_generator.state}
    atomic_write(path, safetensors.numpy.save(tensors, metadata={_META_KEY: json.dumps(meta, sort_keys=True)}))


def load_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in ``path``, with torch's global generator restored; AssetError if unreadable."""
    try:
        raw = Path(path).read_bytes()
        header_len = int.from_bytes(raw[:8], "little")
        meta = json.loads(json.loads(raw[8:8 + header_len])["__metadata__"][_META_KEY])
        tensors = safetensors.numpy.load(raw)
        model = ImageVAE(VAEConfig(**meta["config"]))
        model.load_state_dict({k[6:]: torch.from_numpy(v.copy()) for k, v in tensors.items() if k.startswith("model/")})
        optimizer = torch.optim.Adam(model.parameters())
        state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("adam/"):
                _, i, key = k.split("/")
                state.setdefault(int(i), {})[key] = torch.from_numpy(v.copy())
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        rng = np.random.Generator(getattr(np.random, meta["numpy_rng"]["bit_generator"])())
        rng.bit_generator.state = meta["numpy_rng"]
        torch.set_rng_state(torch.from_numpy(tensors["rng/torch"].copy()))
    except Exception as exc:  # any malformed or foreign file
        raise AssetError(f"{path}: not a readable training checkpoint ({type(exc).__name__}: {exc})") from None
    return Checkpoint(model, optimizer, rng, int(meta["step"]), float(meta["cpu_s"]), float(meta["wall_s"]),
                      meta["settings"])
