"""Baselines at the same code bits as BayesQ, written through the same container (``quantize(method=...)``).

- :func:`fixed_row_bits`: the per-row widths every baseline uses at a budget (a fractional budget
  puts the right share of rows, spread evenly, at the wider of the two neighbouring widths).
- :func:`hqq_code`: HQQ (Badri & Shaji 2023, the ``hqq`` package, ``optimize=True``), one group per
  output channel; an optional dependency (``pip install codecframe-bayesq[bench]``).

- :func:`rtn_code`: per-row asymmetric grids as GPTQ's ``quant.py`` builds them (range widened to
  include 0, integer zero point), min–max or MSE-clipped (``grid=100, maxshrink=0.8, norm=2.4``).
- :func:`gptq_codes`: the canonical GPTQ column loop (Frantar et al. 2023; ``IST-DASLab/gptq``
  ``gptq.py``): Hessian ``H = 2/n Σ x x^T``, dead inputs zeroed, optional act-order, damping
  ``percdamp·mean(diag H)``, inverse Hessian in upper Cholesky form, lazy block updates. Grids are
  fixed beforehand (per row, any levels), so the same loop serves RTN grids and BayesQ's grids.
- :func:`gptq_model`: GPTQ over a model's layers in order, each layer's Hessian computed from
  calibration inputs that already pass through the quantized earlier layers; padding positions
  (``attention_mask == 0`` of dict inputs) are left out of every Hessian.
- :func:`hessian_groups`: the Hessians of all layers on full-precision inputs, a group of layers
  per no-grad pass within a memory budget (BayesQ's ``rounding="gptq"``), padding left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from codecframe.errors import ConfigError, InputError

from .calibration import Calibration, capture, input_positions
from .layers import LayerRef, set_weight_matrix, weight_matrix
from .quantizers import GridQuantizer, LayerCode

__all__ = ["BASELINES", "fixed_row_bits", "rtn_code", "hqq_code", "gptq_codes", "layer_hessian", "gptq_model",
           "layer_objective", "hessian_groups", "quantize_baseline"]

#: ``quantize(method=...)`` values other than ``"bayesq"``.
BASELINES = ("rtn", "rtn-mse", "gptq", "hqq")


def fixed_row_bits(rows: int, budget: float) -> np.ndarray:
    """Per-row widths at ``budget``: ``floor`` everywhere, the nearest whole number of rows (spread
    evenly) one bit wider, so that the code bits per weight are as close to ``budget`` as rows allow."""
    lo = int(np.floor(budget))
    n_hi = int(round((budget - lo) * rows))
    bits = np.full(rows, lo, np.int64)
    if n_hi:
        bits[np.floor(np.arange(n_hi) * rows / n_hi).astype(np.int64)] = lo + 1
    return bits


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


def hqq_code(w: np.ndarray, bits: np.ndarray) -> LayerCode:
    """HQQ per output channel (one group per row, ``optimize=True``), run on the rows of each width."""
    try:
        from hqq.core.quantize import Quantizer as HQQ
    except ImportError:
        raise ConfigError("method 'hqq' needs the hqq package: pip install 'codecframe-bayesq[bench]' "
                          "(after torch==2.13.0)") from None
    w = np.asarray(w, np.float64)
    bits = np.asarray(bits, np.int64)
    scale, zero = np.empty(len(bits)), np.empty(len(bits))
    codes = np.empty(w.shape, np.int32)
    for b in np.unique(bits):
        rows = np.flatnonzero(bits == b)
        sub = torch.tensor(w[rows], dtype=torch.float32)
        q, meta = HQQ.quantize(sub, nbits=int(b), group_size=sub.shape[1], optimize=True, axis=1, device="cpu",
                               bitpack=False)
        s = meta["scale"].reshape(-1).double().numpy()
        z = meta["zero"].reshape(-1).double().numpy()
        codes[rows] = np.clip(np.rint(q.reshape(sub.shape).double().numpy()), 0, (1 << int(b)) - 1).astype(np.int32)
        scale[rows], zero[rows] = s, -s * z  # HQQ: w ≈ (q - z)·s
    levels = {int(b): np.arange(1 << int(b), dtype=np.float64) for b in np.unique(bits)}
    return LayerCode(bits, scale, zero, levels, codes)


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
    """GPTQ rounding of ``w`` (R × C) onto the fixed per-row levels of ``code``; returns a code with new ``codes``.

    Float32 throughout, as in the reference implementation (the column loop is memory-bound)."""
    W = torch.as_tensor(np.array(w, np.float32))
    H = torch.as_tensor(np.array(hessian, np.float32))
    del hessian
    cols = W.shape[1]
    uniform = all(np.array_equal(np.asarray(v, np.float64), np.arange(1 << b)) for b, v in code.levels.items()) \
        and bool(np.all(np.asarray(code.scale, np.float64) > 0))
    if uniform:  # levels zero + scale·k: the nearest level in closed form (ties to the lower one, as below)
        zero = torch.as_tensor(np.asarray(code.zero, np.float32))
        scale = torch.as_tensor(np.asarray(code.scale, np.float32))
        maxq = torch.as_tensor((1 << np.asarray(code.bits, np.int64)) - 1)
    else:
        levels = torch.as_tensor(_level_table(code).astype(np.float32))
        mids = 0.5 * (levels[:, 1:] + levels[:, :-1])          # +inf / nan past a row's levels
        mids = torch.nan_to_num(mids, nan=np.inf)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    perm = torch.argsort(torch.diag(H), descending=True) if actorder else torch.arange(cols)
    W, H = W[:, perm], H[perm][:, perm]
    H.diagonal().add_(percdamp * torch.mean(torch.diag(H)))
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    del H
    Q = torch.zeros_like(W, dtype=torch.int64)
    rows = torch.arange(W.shape[0])
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        Hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            x = W1[:, i]
            if uniform:
                k = torch.minimum(torch.ceil((x - zero) / scale - 0.5).clamp_(min=0), maxq).long()
                q = zero + scale * k
            else:
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


def _masked_rows(a: torch.Tensor, keep: torch.Tensor | None, cols: int) -> torch.Tensor:
    """``a`` (N, P, in) as (positions, in), dropping positions where ``keep`` (N, P) is 0."""
    if keep is not None and tuple(keep.shape) == tuple(a.shape[:2]):
        return a[keep.bool()].reshape(-1, cols)
    return a.reshape(-1, cols)


def layer_hessian(model: nn.Module, layer: LayerRef, calib: Calibration | torch.Tensor,
                  batch_size: int = 128) -> np.ndarray:
    """``H = 2/n Σ x x^T`` over the layer's inputs (im2col rows for convolutions), padding left out."""
    calib = calib if isinstance(calib, Calibration) else Calibration(calib)
    total = torch.zeros(layer.cols, layer.cols, dtype=torch.float64)
    n = 0
    with torch.no_grad(), capture([layer]) as rec:
        for chunk in calib.chunks(batch_size):
            chunk.outputs(model)
            a = _masked_rows(rec[layer.group]["a"], chunk.mask, layer.cols).double()
            total += a.T @ a
            n += a.shape[0]
    if n == 0:
        raise InputError(f"layer {layer.name!r}: the calibration set has no unmasked position")
    return (2.0 / n * total).numpy()


class _GroupDone(Exception):
    """Raised by a hook once every layer of the group has seen the chunk (the rest of the forward is skipped)."""


def hessian_groups(model: nn.Module, layers: Sequence[LayerRef], calib: Calibration,
                   budget: int = 1 << 24, batch_size: int = 16) -> Iterator[tuple[LayerRef, np.ndarray]]:
    """``(layer, H)`` for every layer, ``H = 2/n Σ x x^T`` (float32, as GPTQ keeps it) over its
    full-precision inputs, padding left out.

    Layers are taken in groups whose float32 Hessian sums fit in ``budget`` bytes (at least one layer
    per group); each group costs one no-grad pass over the calibration set, stopped as soon as every
    layer of the group has seen the chunk. Memory is one group's sums, not every layer's.
    """
    groups: list[list[LayerRef]] = [[]]
    size = 0
    for layer in layers:
        if groups[-1] and size + 4 * layer.cols ** 2 > budget:
            groups.append([])
            size = 0
        groups[-1].append(layer)
        size += 4 * layer.cols ** 2
    for group in groups if layers else []:
        sums = {l.group: torch.zeros(l.cols, l.cols, dtype=torch.float32) for l in group}
        counts = {l.group: 0 for l in group}
        for chunk in calib.chunks(batch_size):
            seen: set[str] = set()

            def hook(layer: LayerRef, mask: torch.Tensor | None = chunk.mask):
                def forward(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
                    rows = _masked_rows(input_positions(args[0].detach(), module), mask, layer.cols).float()
                    sums[layer.group].addmm_(rows.T, rows)
                    counts[layer.group] += rows.shape[0]
                    seen.add(layer.group)
                    if len(seen) == len(group):
                        raise _GroupDone
                return forward

            handles = [l.module.register_forward_hook(hook(l)) for l in group]
            try:
                with torch.no_grad():
                    chunk.outputs(model)
            except _GroupDone:
                pass
            finally:
                for h in handles:
                    h.remove()
        for l in group:
            if counts[l.group] == 0:
                raise InputError(f"layer {l.name!r}: the calibration set has no unmasked position")
            yield l, sums.pop(l.group).mul_(2.0 / counts[l.group]).numpy()


def layer_objective(w: np.ndarray, q: np.ndarray, hessian: np.ndarray) -> float:
    """GPTQ's layer-wise objective ``tr((W - Q) H (W - Q)^T) / 2`` (= mean squared output error)."""
    d = np.asarray(q, np.float64) - np.asarray(w, np.float64)
    return float(np.einsum("ij,jk,ik->", d, hessian, d) / 2.0)


def gptq_model(model: nn.Module, layers: Sequence[LayerRef], calib: Calibration | torch.Tensor,
               codes: dict[str, LayerCode], blocksize: int = 128, percdamp: float = 0.01,
               actorder: bool = True) -> dict[str, LayerCode]:
    """Sequential GPTQ: quantize ``layers`` in order (writing their weights), each on inputs through the quantized prefix."""
    out = {}
    for layer in layers:
        H = layer_hessian(model, layer, calib)
        out[layer.group] = gptq_codes(weight_matrix(layer), H, codes[layer.group], blocksize, percdamp, actorder)
        set_weight_matrix(layer, out[layer.group].values())
    return out


def quantize_baseline(model: nn.Module, layers: Sequence[LayerRef], method: str, avg_bits: float,
                      calib: Calibration | None, quantizer: GridQuantizer) -> dict[str, LayerCode]:
    """Per-layer codes of a baseline at ``avg_bits`` (:func:`fixed_row_bits`), grids at their stored
    precision (``quantizer.rounded``) so that the weights written equal the file's. GPTQ writes the
    quantized weights into ``model`` as it goes."""
    codes = {}
    for l in layers:
        w, bits = weight_matrix(l), fixed_row_bits(l.rows, avg_bits)
        if method in ("rtn", "rtn-mse"):
            codes[l.group] = quantizer.rounded(rtn_code(w, bits, mse=method == "rtn-mse"), w)
        elif method == "hqq":
            codes[l.group] = quantizer.rounded(hqq_code(w, bits), w)
        elif method == "gptq":
            codes[l.group] = quantizer.rounded(rtn_code(w, bits), None)
        else:
            raise ConfigError(f"unknown baseline {method!r}; expected one of {', '.join(BASELINES)}")
    if method == "gptq":
        if calib is None:
            raise InputError("GPTQ needs calibration inputs")
        codes = gptq_model(model, layers, calib, codes)
    return codes
