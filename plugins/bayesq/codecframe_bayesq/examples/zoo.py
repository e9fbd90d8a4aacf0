"""The bundled example models (trained by ``examples/train.py``) with their data and calibration sets."""

from __future__ import annotations

import dataclasses
import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from codecframe.errors import AssetError, ConfigError

from ..assets import ASSET_DIR
from .data import digits, digits_images, text_corpus, text_windows
from .models import build

__all__ = ["Example", "load_example", "EXAMPLES"]

EXAMPLES = ("mlp", "cnn", "tinylm")


@dataclasses.dataclass(frozen=True)
class Example:
    """A trained model, its architecture record, and test inputs/targets; ``calibration(n, seed)`` draws inputs."""

    name: str
    model: nn.Module
    architecture: dict
    x_test: torch.Tensor
    y_test: torch.Tensor
    _train: torch.Tensor

    def calibration(self, n: int = 256, seed: int = 0) -> torch.Tensor:
        """``n`` training inputs drawn with ``seed`` (windows of the training text for the language model)."""
        gen = torch.Generator().manual_seed(seed)
        if self.name == "tinylm":
            return text_windows(self._train, n, self.model.context, gen)[0]
        idx = torch.randperm(self._train.shape[0], generator=gen)[:n]
        return self._train[idx]


def load_example(name: str) -> Example:
    """Load a bundled example by name ("mlp", "cnn", "tinylm")."""
    if name not in EXAMPLES:
        raise ConfigError(f"unknown example {name!r}; bundled: {', '.join(EXAMPLES)}")
    path = ASSET_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise AssetError(f"example weights {path} are missing; reinstall codecframe-bayesq")
    with safe_open(str(path), "pt") as fh:
        meta = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
    arch = {"name": meta["architecture"], "options": meta["options"]}
    model = build(arch["name"], arch["options"])
    model.load_state_dict(load_file(str(path)))
    model.eval()
    if name == "tinylm":
        data = text_corpus(arch["options"]["context"])
    else:
        data = digits_images() if name == "cnn" else digits()
    return Example(name, model, arch, data.x_test, data.y_test, data.x_train)
