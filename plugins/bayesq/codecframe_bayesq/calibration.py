"""Calibration data, sampled labels, and per-layer activations/output gradients captured with hooks.

The model's outputs are read as categorical logits over the last axis (classifiers: ``(N, C)``;
language models: ``(N, T, V)``, one categorical per position). A *sample* is one item of the first
axis; its loss is the sum over its positions.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from codecframe.errors import InputError

from .layers import LayerRef

__all__ = ["Calibration", "as_calibration", "logits_of", "sample_labels", "capture", "per_sample_grads", "squared_grad_sum", "MAX_CALIBRATION"]

#: Most calibration samples accepted (keeps memory bounded).
MAX_CALIBRATION = 1 << 16


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Inputs (first axis = samples) and optional true targets (for the empirical Fisher)."""

    inputs: torch.Tensor
    targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def batches(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        for i in range(0, len(self), size):
            yield self.inputs[i:i + size], None if self.targets is None else self.targets[i:i + size]


def as_calibration(data: Any) -> Calibration:
    """A :class:`Calibration` from a tensor/array of inputs, an ``(inputs, targets)`` pair, or a Calibration."""
    if isinstance(data, Calibration):
        return data
    targets = None
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise InputError("calibration must be inputs or an (inputs, targets) pair")
        data, targets = data
    try:
        inputs = torch.as_tensor(data)
    except Exception as exc:
        raise InputError(f"calibration inputs cannot be read as a tensor: {exc}") from None
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise InputError("the calibration set is empty")
    if inputs.shape[0] > MAX_CALIBRATION:
        raise InputError(f"calibration set of {inputs.shape[0]} samples exceeds the limit of {MAX_CALIBRATION}")
    if inputs.is_floating_point() and not torch.isfinite(inputs).all():
        raise InputError("calibration inputs contain NaN or infinite values")
    if targets is not None:
        targets = torch.as_tensor(targets)
        if targets.shape[0] != inputs.shape[0]:
            raise InputError(f"calibration has {inputs.shape[0]} inputs but {targets.shape[0]} targets")
    return Calibration(inputs, targets)


def logits_of(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The model's output, checked to be logits with a class axis; InputError if the inputs do not fit."""
    try:
        out = model(inputs)
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        raise InputError(f"calibration inputs of shape {tuple(inputs.shape)} do not fit the model: {exc}") from None
    if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != inputs.shape[0]:
        raise InputError("the model must return logits of shape (samples, ..., classes)")
    return out


def sample_labels(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One label per categorical (all axes but the last) drawn from the model's own predictive."""
    probs = torch.softmax(logits.detach().double(), -1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])


def loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood summed over samples and positions."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(), reduction="sum")


@contextlib.contextmanager
def capture(layers: Sequence[LayerRef], on_grad: Callable[[LayerRef, torch.Tensor, torch.Tensor], None] | None = None
            ) -> Iterator[dict[str, dict[str, torch.Tensor]]]:
    """Record each layer's input (im2col for convolutions) and the gradient of its output.

    Yields ``{group: {"a": (N, P, in), "g": (N, P, out)}}`` (P positions per sample), filled by a
    forward and a backward pass inside the block. With ``on_grad``, each layer's ``(layer, a, g)``
    is handed over as its gradient arrives and dropped from the record (memory stays per layer).
    """
    store: dict[str, dict[str, torch.Tensor]] = {}
    handles = []

    def hook(layer: LayerRef):
        def forward(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            x = args[0].detach()
            if isinstance(module, nn.Conv2d):
                cols = F.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride)
                a = cols.transpose(1, 2)  # (N, L, in·kh·kw)
            else:
                a = x.reshape(x.shape[0], -1, x.shape[-1])
            store[layer.group] = {"a": a}
            if out.requires_grad:
                def grad_hook(g: torch.Tensor) -> None:
                    if isinstance(module, nn.Conv2d):
                        g = g.detach().flatten(2).transpose(1, 2)
                    else:
                        g = g.detach().reshape(g.shape[0], -1, g.shape[-1])
                    if on_grad is None:
                        store[layer.group]["g"] = g
                    elif layer.group in store:
                        on_grad(layer, store.pop(layer.group)["a"], g)
                out.register_hook(grad_hook)
        return forward

    for layer in layers:
        handles.append(layer.module.register_forward_hook(hook(layer)))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def per_sample_grads(record: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-sample weight gradients ``(N, out, in)`` from a captured ``a`` and ``g``."""
    return torch.einsum("npo,npi->noi", record["g"], record["a"])


def squared_grad_sum(record: dict[str, torch.Tensor]) -> torch.Tensor:
    """``Σ_n (per-sample gradient)²`` as ``(out, in)``; with one position per sample, ``(g²)^T (a²)`` exactly."""
    g, a = record["g"], record["a"]
    if g.shape[1] == 1:
        return (g[:, 0] * g[:, 0]).T @ (a[:, 0] * a[:, 0])
    grads = per_sample_grads(record)
    return grads.mul_(grads).sum(0)
