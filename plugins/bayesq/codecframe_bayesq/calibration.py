"""Calibration data and per-layer activations/output gradients captured with hooks.

A :class:`Calibration` holds the inputs (a tensor, or a mapping of tensors such as a tokenizer's
``input_ids``/``attention_mask``), optional true targets, an optional ``(N, T)`` 0/1 position mask
and the :class:`~.adapters.Adapter` that says how to call the model and what its output means.
A *sample* is one item of the first axis; its loss is the sum over its (unmasked) positions.

The seam for the algorithms: iterate ``calibration.chunks(size)`` (each a Calibration), get the
output tensor with ``chunk.outputs(model)``, the likelihood with ``chunk.objective`` (``sample``,
``nll(out, targets, chunk.mask)``, ``divergence``), and record layers with
``capture(layers, on_grad, chunk.mask)``: padding positions are zeroed in the records and not counted in
``record["n"]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from codecframe.errors import InputError

from .adapters import Adapter, batch_size, describe
from .layers import LayerRef, is_conv
from .objectives import Objective

__all__ = ["Calibration", "as_calibration", "capture", "per_sample_grads", "squared_grad_sum", "MAX_CALIBRATION"]

#: Most calibration samples accepted (keeps memory bounded).
MAX_CALIBRATION = 1 << 16


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Inputs (first axis = samples), optional targets, optional ``(N, T)`` position mask, and the adapter."""

    inputs: torch.Tensor | Mapping[str, Any]
    targets: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    adapter: Adapter = dataclasses.field(default_factory=Adapter)

    def __post_init__(self) -> None:
        n = batch_size(self.inputs)
        if self.mask is not None:
            if not isinstance(self.mask, torch.Tensor) or self.mask.ndim != 2 or self.mask.shape[0] != n:
                shape = tuple(self.mask.shape) if isinstance(self.mask, torch.Tensor) else type(self.mask).__name__
                raise InputError(f"the calibration mask has shape {shape}; expected (samples={n}, positions) "
                                 "with 1 for data and 0 for padding, like a tokenizer's attention_mask")
            ids = _token_tensor(self.inputs)
            if ids is not None and tuple(ids.shape[:2]) != tuple(self.mask.shape):
                raise InputError(f"the calibration mask has shape {tuple(self.mask.shape)} but the inputs "
                                 f"{describe(self.inputs)}; the mask must be (samples, tokens) of the token ids")
            if not bool(((self.mask == 0) | (self.mask == 1)).all()):
                raise InputError("the calibration mask must hold only 0 (padding) and 1 (data)")
            if not bool((self.mask.reshape(n, -1).sum(1) > 0).all()):
                raise InputError("a calibration sample has no unmasked position (its mask is all 0)")
        if self.targets is not None and int(self.targets.shape[0]) != n:
            raise InputError(f"calibration has {n} inputs but {int(self.targets.shape[0])} targets")

    def __len__(self) -> int:
        return batch_size(self.inputs)

    @property
    def objective(self) -> Objective:
        return self.adapter.loss

    def select(self, index: slice | torch.Tensor) -> Calibration:
        """The samples at ``index`` (a slice or an index tensor) as a Calibration."""
        if isinstance(self.inputs, torch.Tensor):
            inputs: Any = self.inputs[index]
        else:
            inputs = {k: v[index] if isinstance(v, torch.Tensor) and v.ndim else v for k, v in self.inputs.items()}
        return Calibration(inputs, None if self.targets is None else self.targets[index],
                           None if self.mask is None else self.mask[index], self.adapter)

    def chunks(self, size: int) -> Iterator[Calibration]:
        """Consecutive batches of ``size`` samples."""
        for i in range(0, len(self), size):
            yield self.select(slice(i, i + size))

    def outputs(self, model: nn.Module) -> torch.Tensor:
        """The model's output tensor on these inputs, read by the adapter."""
        return self.adapter.outputs(model, self.inputs, self.mask)


def _token_tensor(inputs: Any) -> torch.Tensor | None:
    """The tensor a position mask must match: ``input_ids`` of a mapping, or None."""
    if isinstance(inputs, Mapping):
        ids = inputs.get("input_ids")
        return ids if isinstance(ids, torch.Tensor) else None
    return None


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value)
    except Exception as exc:
        hint = (" (ragged token lists: tokenize with padding=True, return_tensors='pt')"
                if isinstance(value, (list, tuple)) else "")
        raise InputError(f"calibration {what} cannot be read as a tensor{hint}: {exc}") from None


def as_calibration(data: Any, adapter: Adapter | None = None) -> Calibration:
    """A :class:`Calibration` from what users have at hand.

    Accepted: a tensor/array of inputs; an ``(inputs, targets)`` pair; a mapping of tensors (a
    tokenizer's output: its ``attention_mask`` becomes the position mask); a list of strings
    (tokenized by ``adapter.tokenizer``); or a Calibration (its adapter replaced by ``adapter`` if given).
    """
    if isinstance(data, Calibration):
        return data if adapter is None or adapter is data.adapter else dataclasses.replace(data, adapter=adapter)
    adapter = adapter if adapter is not None else Adapter()
    if isinstance(data, str):
        raise InputError("calibration is one string; pass a list of texts (one per sample)")
    if isinstance(data, (list, tuple)) and data and all(isinstance(t, str) for t in data):
        data = adapter.tokenize(data)
    targets = None
    if isinstance(data, (tuple, list)) and not isinstance(data, Mapping):
        if len(data) != 2:
            raise InputError(f"calibration must be inputs, an (inputs, targets) pair, a dict of tensors "
                             f"(tokenizer output) or a list of texts; got a {type(data).__name__} of {len(data)} items")
        data, targets = data
        targets = _as_tensor(targets, "targets")
    if isinstance(data, Mapping):
        inputs: Any = {k: (_as_tensor(v, f"input {k!r}") if isinstance(v, (list, tuple, np.ndarray, torch.Tensor)) else v)
                       for k, v in data.items()}
        if not any(isinstance(v, torch.Tensor) for v in inputs.values()):
            raise InputError(f"the calibration dict holds no tensors: {describe(inputs)}")
        mask = adapter.mask_of(inputs)
    else:
        inputs = _as_tensor(data, "inputs")
        mask = None
    _check_inputs(inputs)
    return Calibration(inputs, targets, mask, adapter)


def _check_inputs(inputs: Any) -> None:
    tensors = [inputs] if isinstance(inputs, torch.Tensor) else [v for v in inputs.values() if isinstance(v, torch.Tensor)]
    for t in tensors:
        if t.ndim == 0 or t.shape[0] == 0:
            raise InputError("the calibration set is empty")
        if t.shape[0] > MAX_CALIBRATION:
            raise InputError(f"calibration set of {t.shape[0]} samples exceeds the limit of {MAX_CALIBRATION}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise InputError("calibration inputs contain NaN or infinite values")


def input_positions(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """A layer's input as ``(N, P, cols)``: im2col rows for convolutions, one row per position otherwise."""
    if isinstance(module, nn.Conv2d):
        return F.unfold(x, module.kernel_size, module.dilation, module.padding, module.stride).transpose(1, 2)
    if isinstance(module, nn.Conv1d):
        cols = F.unfold(x.unsqueeze(2), (1, module.kernel_size[0]), (1, module.dilation[0]),
                        (0, module.padding[0]), (1, module.stride[0]))
        return cols.transpose(1, 2)
    return x.reshape(x.shape[0], -1, x.shape[-1])


def _grad_positions(g: torch.Tensor, module: nn.Module) -> torch.Tensor:
    if is_conv(module):
        return g.flatten(2).transpose(1, 2)
    return g.reshape(g.shape[0], -1, g.shape[-1])


def _masked(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padding positions of ``(N, P, ·)`` when P is the mask's position axis."""
    if mask is None or t.shape[1] != mask.shape[1]:
        return t
    return t * mask.to(t.dtype).unsqueeze(-1)


@contextlib.contextmanager
def capture(layers: Sequence[LayerRef], on_grad: Callable[[LayerRef, torch.Tensor, torch.Tensor], None] | None = None,
            mask: torch.Tensor | None = None) -> Iterator[dict[str, dict[str, Any]]]:
    """Record each layer's input (im2col for convolutions) and the gradient of its output.

    Yields ``{group: {"a": (N, P, in), "g": (N, P, out), "n": positions}}``, filled by a forward and
    a backward pass inside the block. With ``on_grad``, each layer's ``(layer, a, g)`` is handed
    over as its gradient arrives and dropped from the record (memory stays per layer). With
    ``mask`` ``(N, T)``, layers with T positions per sample get their padding positions zeroed in
    ``a`` and ``g``, and ``n`` counts only the data positions.
    """
    store: dict[str, dict[str, Any]] = {}
    handles = []

    def hook(layer: LayerRef):
        def forward(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            a = input_positions(args[0].detach(), module)
            n = int(mask.sum()) if mask is not None and a.shape[1] == mask.shape[1] else a.shape[0] * a.shape[1]
            if out.requires_grad and on_grad is not None:
                # kept unmasked until the gradient arrives: for a Linear layer ``a`` is then a view of
                # the input autograd saves anyway, so the records add one layer's copy at a time
                store[layer.group] = {"a": a, "n": n}
            else:
                store[layer.group] = {"a": _masked(a, mask), "n": n}
            if out.requires_grad:
                def grad_hook(g: torch.Tensor) -> None:
                    g = _masked(_grad_positions(g.detach(), module), mask)
                    if on_grad is None:
                        store[layer.group]["g"] = g
                    elif layer.group in store:
                        on_grad(layer, _masked(store.pop(layer.group)["a"], mask), g)
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
