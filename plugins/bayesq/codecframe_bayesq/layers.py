"""Which layers of a torch model are quantized, and their weights as 2-D matrices (rows = output channels).

Supported: ``nn.Linear`` and ``nn.Conv2d`` with ``groups == 1`` (their weight reshaped to
``out × (in·kh·kw)``, the column order of ``nn.Unfold``). Every other parameter (biases,
normalisation, embeddings, unsupported layers) stays in full precision and is reported.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from codecframe.errors import InputError

__all__ = ["LayerRef", "Unsupported", "find_layers", "weight_matrix", "set_weight_matrix", "check_finite"]


@dataclasses.dataclass(frozen=True)
class LayerRef:
    """A quantizable layer: module path ``name``, the module, and its weight's original shape."""

    name: str
    module: nn.Module
    shape: tuple[int, ...]

    @property
    def group(self) -> str:
        """Name of its weight in the state dict (and of its group in the container)."""
        return f"{self.name}.weight"

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def cols(self) -> int:
        return int(np.prod(self.shape[1:]))


@dataclasses.dataclass(frozen=True)
class Unsupported:
    """A module with parameters that stays in full precision, and why."""

    name: str
    kind: str
    params: int
    reason: str


def _supported(module: nn.Module) -> str | None:
    """None if supported, else the reason it is not."""
    if isinstance(module, nn.Linear):
        return None
    if isinstance(module, nn.Conv2d):
        return None if module.groups == 1 else "grouped convolution (groups > 1)"
    if isinstance(module, (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
        return "normalisation layer (kept in full precision by design)"
    if isinstance(module, nn.Embedding):
        return "embedding (no input activations to weight it)"
    return f"layer type {type(module).__name__} is not supported"


def find_layers(model: nn.Module, include: Sequence[str] | None = None,
                exclude: Sequence[str] = ()) -> tuple[list[LayerRef], list[Unsupported]]:
    """Quantizable layers (in module order) and the modules with parameters that are not quantized.

    ``include``/``exclude`` are glob patterns on module paths; excluded or not-included supported
    layers are reported as unsupported with reason "excluded".
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    layers, skipped = [], []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        reason = _supported(module)
        if reason is None and (include is not None and not any(fnmatch.fnmatch(name, p) for p in include)
                               or any(fnmatch.fnmatch(name, p) for p in exclude)):
            reason = "excluded by the include/exclude patterns"
        if reason is None:
            layers.append(LayerRef(name, module, tuple(module.weight.shape)))
        else:
            skipped.append(Unsupported(name, type(module).__name__, sum(p.numel() for p in own), reason))
    if not layers:
        raise InputError("the model has no supported layers (nn.Linear or nn.Conv2d with groups=1) to quantize")
    return layers, skipped


def weight_matrix(layer: LayerRef) -> np.ndarray:
    """The weight as float64 ``rows × cols``."""
    return layer.module.weight.detach().reshape(layer.rows, -1).double().numpy().copy()


def set_weight_matrix(layer: LayerRef, matrix: np.ndarray) -> None:
    """Overwrite the layer's weight with ``matrix`` (rows × cols), keeping its dtype."""
    w = layer.module.weight
    with torch.no_grad():
        w.copy_(torch.from_numpy(np.ascontiguousarray(matrix)).reshape(w.shape).to(w.dtype))


def check_finite(model: nn.Module) -> None:
    """InputError naming the first parameter with NaN or infinite values."""
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise InputError(f"parameter {name!r} contains NaN or infinite values")
