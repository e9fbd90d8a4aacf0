"""Calibration-only distillation of a quantized model towards the posterior-predictive teacher.

Teacher: ``p̄(y|x) = 1/S Σ_s softmax(f(x; w^(s)) / T)`` with ``w^(s) ~ q`` (``samples=0``: the
full-precision model; ``teacher_scale`` multiplies the posterior's standard deviations for the teacher). Student: the quantized model with its integer codes fixed and these
continuous parameters trainable: every row's scale (as a log-multiplier) and zero point (as a shift
in units of the scale), biases and normalisation affines. Loss ``T² · KL(p̄ ‖ softmax(f_q(x)/T))`` averaged over calibration positions; Adam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import ConfigError

from .layers import LayerRef, set_weight_matrix, weight_matrix
from .posteriors import whitening_of
from .quantizers import LayerCode

__all__ = ["DistillOptions", "teacher_probs", "distill"]


@dataclasses.dataclass(frozen=True)
class DistillOptions:
    steps: int = 200
    lr: float = 1e-3
    temperature: float = 2.0
    samples: int = 8
    teacher_scale: float = 1.0
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.samples < 0:
            raise ConfigError("distill: steps >= 0, batch_size >= 1 and samples >= 0 are required")
        if not (self.lr > 0 and self.temperature > 0 and self.teacher_scale > 0):
            raise ConfigError("distill: lr, temperature and teacher_scale must be > 0")


def teacher_probs(model: nn.Module, layers: Sequence[LayerRef], posteriors: Mapping[str, GaussianPosterior],
                  inputs: torch.Tensor, samples: int, temperature: float, seed: int) -> torch.Tensor:
    """Posterior-predictive probabilities at temperature T on ``inputs`` (the model is restored)."""
    original = {l.group: weight_matrix(l) for l in layers}
    rng = np.random.default_rng(seed)
    total = None
    try:
        for _ in range(max(samples, 1)):
            if samples:
                for l in layers:
                    set_weight_matrix(l, whitening_of(posteriors[l.group]).sample(rng, 1)[0].reshape(original[l.group].shape))
            with torch.no_grad():
                p = torch.softmax(model(inputs).double() / temperature, -1)
            total = p if total is None else total + p
    finally:
        for l in layers:
            set_weight_matrix(l, original[l.group])
    return total / max(samples, 1)


def distill(model: nn.Module, layers: Sequence[LayerRef], codes: dict[str, LayerCode], teacher: torch.Tensor,
            inputs: torch.Tensor, options: DistillOptions) -> dict[str, LayerCode]:
    """Train scales, zero points, biases and norms; returns the codes with new scale/zero (weights installed)."""
    gen = torch.Generator().manual_seed(options.seed)
    level_vals = {}
    base: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    params: dict[str, torch.Tensor] = {}
    for l in layers:
        c = codes[l.group]
        lv = np.zeros(c.codes.shape)
        for b in np.unique(c.bits):
            rows = c.bits == b
            lv[rows] = np.asarray(c.levels[int(b)], np.float64)[c.codes[rows]]
        level_vals[l.group] = torch.as_tensor(lv, dtype=torch.float32)
        # relative parameters: scale = s0·exp(a), zero = z0 + s0·c (a, c start at 0)
        base[l.group] = (torch.as_tensor(np.asarray(c.scale, np.float32)), torch.as_tensor(np.asarray(c.zero, np.float32)))
        params[l.group + "#log_scale"] = torch.zeros(len(c.bits), requires_grad=True)
        params[l.group + "#shift"] = torch.zeros(len(c.bits), requires_grad=True)
    quantized = {l.group for l in layers}
    extra = {k: p.detach().clone().requires_grad_(True) for k, p in model.named_parameters()
             if k not in quantized and (k.endswith(".bias") or _is_norm(model, k))}
    opt = torch.optim.Adam([*params.values(), *extra.values()], lr=options.lr)
    fixed = {k: v.detach() for k, v in model.named_parameters()}
    T = options.temperature
    model.eval()
    for _ in range(options.steps):
        idx = torch.randperm(inputs.shape[0], generator=gen)[: options.batch_size]
        weights = {l.group: _weight(l, base, params, level_vals).reshape(l.shape) for l in layers}
        logits = functional_call(model, {**fixed, **extra, **weights}, (inputs[idx],))
        logq = torch.log_softmax(logits.double() / T, -1)
        p = teacher[idx]
        loss = T * T * (p * (torch.log(p.clamp_min(1e-300)) - logq)).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for k, v in extra.items():
            dict(model.named_parameters())[k].copy_(v)
    out = {}
    for l in layers:
        c = codes[l.group]
        s0, z0 = base[l.group]
        scale = (s0 * torch.exp(params[l.group + "#log_scale"])).detach().double().numpy()
        zero = (z0 + s0 * params[l.group + "#shift"]).detach().double().numpy()
        out[l.group] = LayerCode(c.bits.copy(), scale, zero, dict(c.levels), c.codes.copy())
    return out


def _weight(layer: LayerRef, base, params, level_vals) -> torch.Tensor:
    s0, z0 = base[layer.group]
    scale = s0 * torch.exp(params[layer.group + "#log_scale"])
    zero = z0 + s0 * params[layer.group + "#shift"]
    return zero[:, None] + scale[:, None] * level_vals[layer.group]


def _is_norm(model: nn.Module, name: str) -> bool:
    module = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    return isinstance(module, (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm))
