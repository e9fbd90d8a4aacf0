"""Baselines written in the project: round-to-nearest per channel and GPTQ.

- :func:`rtn_code`: per-row asymmetric grids as GPTQ's ``quant.py`` builds them (range widened to
  include 0, integer zero point), min–max or MSE-clipped (``grid=100, maxshrink=0.8, norm=2.4``).
- :func:`gptq_codes`: the canonical GPTQ column loop (Frantar et al. 2023; ``IST-DASLab/gptq``
  ``gptq.py``): Hessian ``H = 2/n Σ x x^T``, dead inputs zeroed, optional act-order, damping
  ``percdamp·mean(diag H)``, inverse Hessian in upper Cholesky form, lazy block updates. Grids are
  fixed beforehand (per row, any levels), so the same loop serves RTN grids and BayesQ's grids.
- :func:`gptq_model`: GPTQ over a model's layers in order, each layer's Hessian computed from
  calibration inputs that already pass through the quantized earlier layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .calibration import capture
from .layers import LayerRef, set_weight_matrix, weight_matrix
from .quantizers import LayerCode

__all__ = ["rtn_code", "gptq_codes", "layer_hessian", "gptq_model", "layer_objective"]


def _quant_params(xmin: np.ndarray, xmax: np.ndarray, maxq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GPTQ ``quant.py``: scale and integer zero point of the asymmetric grid for [xmin, xmax] (0 inside)."""
    xmin, xmax = np.minimum(xmin, 0.0), np.maximum(xmax, 0.0)
    both = (xmin == 0) & (xmax == 0)
    xmin, xmax = np.where(both, -1.0, xmin), np.where(both, 1.0, xmax)
    scale = (xmax - xmin) / maxq
    zero = np.rint(-xmin / scale)
    return scale, zero


def rtn_code(w: np.ndarray, bits: np.ndarray, mse: bool = False, grid: int = 100, maxshrink: float = 0.8,
             norm: float = 2.4) -> LayerCode:
    """Per-row round-to-nearest: min–max grids, or the MSE-clipped search of GPTQ's ``quant.py``."""
    w = np.asarray(w, np.float64)
    bits = np.asarray(bits, np.int64)
    maxq = (1 << bits).astype(np.float64) - 1
    xmin, xmax = w.min(1), w.max(1)
    scale, zero = _quant_params(xmin, xmax, maxq)
    if mse:
        best = np.full(w.shape[0], np.inf)
        for i in range(int(maxshrink * grid)):
            p = 1 - i / grid
            s1, z1 = _quant_params(p * xmin, p * xmax, maxq)
            q = np.clip(np.rint(w / s1[:, None]) + z1[:, None], 0, maxq[:, None])
            err = (np.abs(s1[:, None] * (q - z1[:, None]) - w) ** norm).sum(1)
            better = err < best
            best = np.where(better, err, best)
            scale, zero = np.where(better, s1, scale), np.where(better, z1, zero)
    levels = {int(b): np.arange(1 << int(b), dtype=np.float64) for b in np.unique(bits)}
    code = LayerCode(bits, scale, -scale * zero, levels)
    code.codes = np.clip(np.rint(w / scale[:, None]) + zero[:, None], 0, maxq[:, None]).astype(np.int32)
    return code


def _level_table(code: LayerCode) -> np.ndarray:
    """Per-row level values (R, L_max), padded with +inf past each row's 2^bits levels."""
    lmax = 1 << int(code.bits.max())
    table = np.full((len(code.bits), lmax), np.inf)
    for b in np.unique(code.bits):
        rows = code.bits == b
        lv = np.asarray(code.levels[int(b)], np.float64)
        table[rows, : lv.size] = code.zero[rows, None].astype(np.float64) + code.scale[rows, None].astype(np.float64) * lv
    return table


def gptq_codes(w: np.ndarray, hessian: np.ndarray, code: LayerCode, blocksize: int = 128, percdamp: float = 0.01,
               actorder: bool = True) -> LayerCode:
    """GPTQ rounding of ``w`` (R × C) onto the fixed per-row levels of ``code``; returns a code with new ``codes``."""
    W = torch.as_tensor(np.array(w, np.float64))
    H = torch.as_tensor(np.array(hessian, np.float64))
    cols = W.shape[1]
    levels = torch.as_tensor(_level_table(code))
    mids = 0.5 * (levels[:, 1:] + levels[:, :-1])          # +inf / nan past a row's levels
    mids = torch.nan_to_num(mids, nan=np.inf)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = torch.argsort(torch.diag(H), descending=True) if actorder else torch.arange(cols)
    W, H = W[:, perm], H[perm][:, perm]
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=H.dtype)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W, dtype=torch.int64)
    rows = torch.arange(W.shape[0])
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            x = W1[:, i]
            k = (x[:, None] > mids).sum(1)
            q = levels[rows, k]
            Q[:, i1 + i] = k
            err = (x - q) / Hinv1[i, i]
            W1[:, i:] -= err[:, None] * Hinv1[i, i:][None, :]
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ hinv[i1:i2, i2:]
    codes = torch.empty_like(Q)
    codes[:, perm] = Q
    return LayerCode(code.bits.copy(), code.scale.copy(), code.zero.copy(), dict(code.levels),
                     codes.numpy().astype(np.int32))


def layer_hessian(model: nn.Module, layer: LayerRef, inputs: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    """``H = 2/n Σ x x^T`` over the layer's inputs (im2col rows for convolutions) on ``inputs``."""
    total = torch.zeros(layer.cols, layer.cols, dtype=torch.float64)
    n = 0
    with torch.no_grad(), capture([layer]) as rec:
        for i in range(0, inputs.shape[0], batch_size):
            model(inputs[i:i + batch_size])
            a = rec[layer.group]["a"].double().reshape(-1, layer.cols)
            total += a.T @ a
            n += a.shape[0]
    return (2.0 / n * total).numpy()


def layer_objective(w: np.ndarray, q: np.ndarray, hessian: np.ndarray) -> float:
    """GPTQ's layer-wise objective ``tr((W - Q) H (W - Q)^T) / 2`` (= mean squared output error)."""
    d = np.asarray(q, np.float64) - np.asarray(w, np.float64)
    return float(np.einsum("ij,jk,ik->", d, hessian, d) / 2.0)


def gptq_model(model: nn.Module, layers: Sequence[LayerRef], inputs: torch.Tensor, codes: dict[str, LayerCode],
               blocksize: int = 128, percdamp: float = 0.01, actorder: bool = True) -> dict[str, LayerCode]:
    """Sequential GPTQ: quantize ``layers`` in order (writing their weights), each on inputs through the quantized prefix."""
    out = {}
    for layer in layers:
        H = layer_hessian(model, layer, inputs)
        out[layer.group] = gptq_codes(weight_matrix(layer), H, codes[layer.group], blocksize, percdamp, actorder)
        set_weight_matrix(layer, out[layer.group].values())
    return out
