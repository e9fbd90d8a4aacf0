"""Task-aware Monte Carlo proxy: the KL that quantizing one layer causes, under posterior samples.

For posterior samples ``w^(s) ~ q`` (all layers at once), ::

    D_l(b) = 1/S Σ_s  mean_x KL( p(y|x, w^(s)) ‖ p(y|x, w^(s) with layer l ← Q_b(w_l^(s))) )

on the calibration inputs, where ``Q_b`` is the layer's width-``b`` codebook (nearest level).
``samples=0`` uses the posterior mean only (a deterministic proxy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from codecframe.builtins.gaussian import GaussianPosterior

from .layers import LayerRef, set_weight_matrix, weight_matrix
from .metrics import log_probs
from .posteriors import whitening_of
from .quantizers import LayerCode

__all__ = ["mc_layer_kl", "rescale_rows"]


def _kl(ref: torch.Tensor, lp: torch.Tensor) -> float:
    return float((ref.exp() * (ref - lp)).sum(-1).mean())


def mc_layer_kl(model: nn.Module, layers: Sequence[LayerRef], posteriors: Mapping[str, GaussianPosterior],
                codes: Mapping[str, Mapping[int, LayerCode]], inputs: torch.Tensor, widths: Sequence[int],
                samples: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """``{group: D_l(b) for b in widths}``; the model's weights are restored afterwards."""
    original = {l.group: weight_matrix(l) for l in layers}
    rng = np.random.default_rng(seed)
    out = {l.group: np.zeros(len(widths)) for l in layers}
    draws = max(samples, 1)
    try:
        for _ in range(draws):
            if samples:
                sample = {l.group: whitening_of(posteriors[l.group]).sample(rng, 1)[0].reshape(original[l.group].shape)
                          for l in layers}
            else:
                sample = original
            for l in layers:
                set_weight_matrix(l, sample[l.group])
            ref = log_probs(model, inputs)
            for l in layers:
                for j, b in enumerate(widths):
                    c = codes[l.group][b]
                    code = LayerCode(c.bits, c.scale, c.zero, c.levels)
                    code.assign(sample[l.group])
                    set_weight_matrix(l, code.values())
                    out[l.group][j] += _kl(ref, log_probs(model, inputs)) / draws
                set_weight_matrix(l, sample[l.group])
    finally:
        for l in layers:
            set_weight_matrix(l, original[l.group])
    return out


def rescale_rows(row_dist: np.ndarray, layer_kl: np.ndarray) -> np.ndarray:
    """Row distortions (R, W) rescaled per width so that each width's rows sum to the layer's MC KL.

    The closed form ranks rows within a layer; the proxy sets how layers trade off against each other.
    """
    totals = row_dist.sum(0)
    factor = np.where(totals > 0, np.maximum(layer_kl, 0.0) / np.where(totals > 0, totals, 1.0), 0.0)
    return row_dist * factor[None, :]
