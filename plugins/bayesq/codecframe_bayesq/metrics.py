"""Evaluation metrics of a quantized model against its full-precision original.

:func:`evaluate` (bundled examples, with labels) treats every position of the output as one
categorical prediction (one per image for the classifiers, one per character for the language
model). :func:`fidelity` compares any two models through an adapter, without labels: for logits the
mean KL(full precision ‖ quantized) over data positions (padding masked) and top-1 agreement; for
embeddings the cosine between the two embeddings of each text and the Spearman correlation of the
pairwise cosine similarities (does the quantized model rank text pairs as the original does?).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .calibration import Calibration

__all__ = ["log_probs", "evaluate", "ece", "fidelity", "embedding_fidelity"]


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


def fidelity(reference: nn.Module, model: nn.Module, data: Calibration, batch_size: int = 32) -> dict[str, float]:
    """Task fidelity of ``model`` against ``reference`` on ``data`` (its adapter says what the outputs are)."""
    reference.eval()
    model.eval()
    kind = data.adapter.kind
    refs, outs = [], []
    kl_sum = agree = positions = 0.0
    with torch.no_grad():
        for chunk in data.chunks(batch_size):
            r, q = chunk.outputs(reference).double(), chunk.outputs(model).double()
            if kind == "embedding":
                refs.append(r)
                outs.append(q)
                continue
            lr, lq = torch.log_softmax(r, -1), torch.log_softmax(q, -1)
            kl = (lr.exp() * (lr - lq)).sum(-1)
            same = (r.argmax(-1) == q.argmax(-1)).double()
            w = chunk.mask.to(kl.dtype) if chunk.mask is not None and tuple(chunk.mask.shape) == tuple(kl.shape) \
                else torch.ones_like(kl)
            kl_sum += float((kl * w).sum())
            agree += float((same * w).sum())
            positions += float(w.sum())
    if kind == "embedding":
        return embedding_fidelity(torch.cat(refs), torch.cat(outs))
    return {"kl": kl_sum / positions, "top1_agreement": agree / positions, "positions": int(positions)}


def embedding_fidelity(reference: torch.Tensor, embeddings: torch.Tensor) -> dict[str, float]:
    """Cosine of each embedding with its reference (mean, min) and the Spearman correlation of pairwise similarities."""
    from scipy.stats import spearmanr

    a = torch.nn.functional.normalize(reference.double(), dim=-1)
    b = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    cos = (a * b).sum(-1)
    out = {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()), "samples": int(a.shape[0])}
    if a.shape[0] >= 3:
        iu = torch.triu_indices(a.shape[0], a.shape[0], 1)
        sa, sb = (a @ a.T)[iu[0], iu[1]].numpy(), (b @ b.T)[iu[0], iu[1]].numpy()
        out["pairwise_spearman"] = float(spearmanr(sa, sb).statistic)
    return out
