"""Evaluation metrics of a quantized model against its full-precision original.

All metrics treat every position of the output as one categorical prediction (one per image for
the classifiers, one per character for the language model).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["log_probs", "evaluate", "ece"]


def log_probs(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Log-softmax outputs as float64 ``(positions, classes)``."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, inputs.shape[0], batch_size):
            logits = model(inputs[i:i + batch_size])
            out.append(torch.log_softmax(logits.double(), -1).reshape(-1, logits.shape[-1]))
    return torch.cat(out)


def ece(probs: torch.Tensor, targets: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence with ``bins`` equal-width bins."""
    conf, pred = probs.max(-1)
    correct = (pred == targets).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += float(sel.double().mean()) * abs(float(conf[sel].mean() - correct[sel].mean()))
    return total


def evaluate(model: nn.Module, reference: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """KL(reference ‖ model), NLL, accuracy, perplexity and ECE on ``inputs``.

    ``reference`` are the full-precision model's :func:`log_probs` on the same inputs.
    """
    lp = log_probs(model, inputs)
    y = targets.reshape(-1).long()
    kl = float((reference.exp() * (reference - lp)).sum(-1).mean())
    nll = float(-lp.gather(1, y[:, None]).mean())
    probs = lp.exp()
    return {
        "kl": kl,
        "nll": nll,
        "accuracy": float((lp.argmax(-1) == y).double().mean()),
        "perplexity": math.exp(min(nll, 700.0)),
        "ece": ece(probs, y),
    }
