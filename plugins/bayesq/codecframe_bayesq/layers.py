"""Which layers of a torch model are quantized, and their weights as 2-D matrices (rows = output channels).

Supported: ``nn.Linear``; ``nn.Conv1d`` and ``nn.Conv2d`` with ``groups == 1`` and zero padding
(their weight reshaped to ``out × (in·k)``, the column order of ``nn.Unfold``); Hugging Face's
``Conv1D`` (GPT-2 style, weight stored ``in × out``: its matrix is the transpose, ``transposed=True``).
Every other parameter (biases, normalisation, embeddings, unsupported layers) stays in full
precision and is reported.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from codecframe.errors import InputError

__all__ = ["LayerRef", "Unsupported", "find_layers", "weight_matrix", "set_weight_matrix", "check_finite", "is_conv",
           "is_hf_conv1d"]


@dataclasses.dataclass(frozen=True)
class LayerRef:
    """A quantizable layer: module path ``name``, the module, its weight's original shape, and whether
    the weight is stored ``in × out`` (``transposed``: its matrix, rows = outputs, is the transpose)."""

    name: str
    module: nn.Module
    shape: tuple[int, ...]
    transposed: bool = False

    @property
    def group(self) -> str:
        """Name of its weight in the state dict (and of its group in the container)."""
        return f"{self.name}.weight"

    @property
    def rows(self) -> int:
        return self.shape[1] if self.transposed else self.shape[0]

    @property
    def cols(self) -> int:
        return self.shape[0] if self.transposed else int(np.prod(self.shape[1:]))


@dataclasses.dataclass(frozen=True)
class Unsupported:
    """A module with parameters that stays in full precision, and why."""

    name: str
    kind: str
    params: int
    reason: str


def is_hf_conv1d(module: nn.Module) -> bool:
    """Hugging Face ``transformers``' ``Conv1D`` (a linear layer with its weight stored ``in × out``)."""
    return (type(module).__name__ == "Conv1D" and type(module).__module__.startswith("transformers")
            and getattr(module, "weight", None) is not None and module.weight.ndim == 2)


def is_conv(module: nn.Module) -> bool:
    """A torch 1-D or 2-D convolution."""
    return isinstance(module, (nn.Conv1d, nn.Conv2d))


def _supported(module: nn.Module) -> str | None:
    """None if supported, else the reason it is not."""
    if isinstance(module, nn.Linear) or is_hf_conv1d(module):
        return None
    if is_conv(module):
        if module.groups != 1:
            return "grouped convolution (groups > 1)"
        if isinstance(module.padding, str) or module.padding_mode != "zeros":
            return "convolution with string padding or a padding_mode other than zeros (its im2col is not reproduced)"
        return None
    if isinstance(module, (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
        return "normalisation layer (kept in full precision by design)"
    if isinstance(module, nn.Embedding):
        return "embedding (no input activations to weight it)"
    return f"layer type {type(module).__name__} is not supported"


def _patterns(value: Sequence[str] | None, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(p, str) for p in value):
        raise InputError(f"{what} must be a list of glob patterns on module paths (e.g. ['encoder.*']), got {value!r}")
    return tuple(value)


def find_layers(model: nn.Module, include: Sequence[str] | None = None,
                exclude: Sequence[str] = ()) -> tuple[list[LayerRef], list[Unsupported]]:
    """Quantizable layers (in module order) and the modules with parameters that are not quantized.

    ``include``/``exclude`` are glob patterns on module paths; excluded or not-included supported
    layers are reported as unsupported with reason "excluded". A weight shared by several modules
    (tied input and output embeddings) stays in full precision: quantizing it for one use would
    change the other.
    """
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    inc, exc = _patterns(include, "include"), _patterns(exclude, "exclude") or ()
    owners: dict[int, list[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        for p in module.parameters(recurse=False):
            owners.setdefault(id(p), []).append(name)
    layers, skipped = [], []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        reason = _supported(module)
        if reason is None and (inc is not None and not any(fnmatch.fnmatch(name, p) for p in inc)
                               or any(fnmatch.fnmatch(name, p) for p in exc)):
            reason = "excluded by the include/exclude patterns"
        if reason is None and len(set(owners[id(module.weight)])) > 1:
            others = sorted(set(owners[id(module.weight)]) - {name})
            reason = f"weight tied to {', '.join(others)} (shared weights stay in full precision)"
        if reason is None:
            layers.append(LayerRef(name, module, tuple(module.weight.shape), is_hf_conv1d(module)))
        else:
            skipped.append(Unsupported(name, type(module).__name__, sum(p.numel() for p in own), reason))
    if not layers:
        raise InputError("the model has no supported layers to quantize (nn.Linear, nn.Conv1d/Conv2d with groups=1, "
                         "transformers' Conv1D)" + ("; check the include/exclude patterns" if inc or exc else ""))
    return layers, skipped


def weight_matrix(layer: LayerRef) -> np.ndarray:
    """The weight as float64 ``rows × cols``."""
    w = layer.module.weight.detach()
    return (w.T if layer.transposed else w.reshape(layer.rows, -1)).double().numpy().copy()


def set_weight_matrix(layer: LayerRef, matrix: np.ndarray) -> None:
    """Overwrite the layer's weight with ``matrix`` (rows × cols), keeping its dtype."""
    w = layer.module.weight
    m = torch.from_numpy(np.ascontiguousarray(matrix))
    with torch.no_grad():
        w.copy_((m.T if layer.transposed else m.reshape(w.shape)).to(w.dtype))


def check_finite(model: nn.Module) -> None:
    """InputError naming the first parameter with NaN or infinite values."""
    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            raise InputError(f"parameter {name!r} contains NaN or infinite values")
