"""Laplace posterior estimators over the weights of a model's supported layers (``codecframe.estimators``).

All three fit a Gaussian ``q(w) = N(w*, Λ^{-1})`` around the trained weights ``w*`` from a small
calibration set. The curvature is the Fisher/GGN of the model's categorical likelihood with labels
*sampled from the model* (``fisher="mc"``, the default) or the true labels (``fisher="empirical"``),
averaged per calibration sample; with ``N = n_data`` (effective data-set size), prior precision
``τ`` and temperature ``T``:

- ``bayesq-diag`` (default): ``Λ = diag(N·F_ii + τ) / T``.
- ``bayesq-kfac``: per layer ``Λ = ((√N·A + √τ·I) ⊗ (√N·G + √τ·I)) / T`` with ``A = E[a a^T]`` over
  inputs (im2col for convolutions) and ``G`` the per-sample sum over positions of ``E[g g^T]``.
- ``bayesq-lowrank``: per layer the top-``rank`` eigenpairs of the Fisher plus its remaining
  diagonal: ``Λ = (N·(V S V^T + diag(F - diag(V S V^T))) + τ·I) / T``.

``damping`` adds ``damping · mean(N·F)`` of each layer to its prior precision (a relative floor,
like GPTQ's ``percdamp``), which keeps weights whose sampled-label Fisher happens to be tiny from
being treated as free.

``estimate(model, calibration)`` returns ``{"<layer>.weight": posterior}`` with ``mean`` and ``std``
as ``rows × cols`` matrices (rows = output channels).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from codecframe.abc import PosteriorEstimator
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import ConfigError, InputError

from .calibration import Calibration, as_calibration, capture, per_sample_grads, squared_grad_sum
from .layers import LayerRef, check_finite, find_layers, weight_matrix
from .posteriors import KFACPosterior, LowRankPosterior
from .whitening import LowRankWhitening

__all__ = ["DiagLaplaceEstimator", "KFACEstimator", "LowRankEstimator", "LaplaceOptions", "NoGradientWarning"]

#: Most per-sample gradient entries (samples × weights of one layer) formed at once by ``bayesq-diag``.
MAX_PER_SAMPLE = 1 << 21


class NoGradientWarning(UserWarning):
    """Some supported layers receive no gradient from the model's outputs (they are left unquantized)."""


@dataclasses.dataclass(frozen=True)
class LaplaceOptions:
    """Options shared by the three estimators (see the module docstring)."""

    fisher: str = "mc"
    label_samples: int = 1
    prior_precision: float = 1e-8
    damping: float = 1.0
    n_data: int | None = None
    temperature: float = 1.0
    batch_size: int = 16  # inputs per forward/backward pass: bounds the activations autograd holds
    seed: int = 0
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        where = "estimator options"
        if self.fisher not in ("mc", "empirical"):
            raise ConfigError(f"{where}: fisher must be 'mc' or 'empirical', got {self.fisher!r}")
        if self.label_samples < 1 or self.batch_size < 1:
            raise ConfigError(f"{where}: label_samples and batch_size must be >= 1")
        if not self.prior_precision > 0:
            raise ConfigError(f"{where}: prior_precision must be > 0 (it keeps every variance finite)")
        if not self.temperature > 0:
            raise ConfigError(f"{where}: temperature must be > 0")
        if not self.damping >= 0:
            raise ConfigError(f"{where}: damping must be >= 0")
        if self.n_data is not None and self.n_data < 1:
            raise ConfigError(f"{where}: n_data must be >= 1 or null (then the calibration size)")


class _Laplace(PosteriorEstimator):
    """Shared calibration loop: for each batch and label sample, a forward/backward with hooks."""

    Config = LaplaceOptions

    def _prepare(self, model: Any, data: Any) -> tuple[nn.Module, list[LayerRef], Calibration]:
        if not isinstance(model, nn.Module):
            raise InputError(f"{self.describe()}: target must be a torch.nn.Module, got {type(model).__name__}")
        check_finite(model)
        layers, _ = find_layers(model, self.config.include, self.config.exclude)
        calib = as_calibration(data)
        if self.config.fisher == "empirical" and calib.targets is None:
            raise InputError(f"{self.describe()}: fisher='empirical' needs calibration (inputs, targets)")
        return model, layers, calib

    def _passes(self, model: nn.Module, layers: list[LayerRef], calib: Calibration,
                consume: Callable[[LayerRef, torch.Tensor, torch.Tensor], None]) -> list[LayerRef]:
        """One forward/backward per batch and label sample; ``consume(layer, a, g)`` per layer as its
        output gradient arrives (``a``: inputs ``(N, P, in)``, ``g``: output gradients ``(N, P, out)``),
        so only one layer's records are held beyond what autograd keeps. Returns the layers that got
        a gradient in every pass (the others, e.g. a pooler the outputs do not use, get a warning)."""
        gen = torch.Generator().manual_seed(self.config.seed)
        was_training = model.training
        model.eval()
        params = list(model.parameters())
        flags = [p.requires_grad for p in params]
        seen = {layer.group: 0 for layer in layers}
        passes = 0

        def on_grad(layer: LayerRef, a: torch.Tensor, g: torch.Tensor) -> None:
            seen[layer.group] += 1
            consume(layer, a, g)

        def grad_entry(module: nn.Module, args: tuple) -> tuple | None:
            # No parameter requires a gradient, so the backward pass forms no weight gradients and
            # autograd saves no layer inputs for them; an input no gradient path reaches yet becomes
            # a leaf that requires one, so that every layer's output gradient is computed.
            x = args[0] if args else None
            if isinstance(x, torch.Tensor) and x.is_floating_point() and not x.requires_grad:
                return (x.detach().requires_grad_(True), *args[1:])
            return None

        handles = [layer.module.register_forward_pre_hook(grad_entry) for layer in layers]
        try:
            for p in params:
                p.requires_grad_(False)
            for chunk in calib.chunks(self.config.batch_size):
                loss = chunk.objective
                for _ in range(self.config.label_samples if self.config.fisher == "mc" else 1):
                    with capture(layers, on_grad, chunk.mask):
                        out = chunk.outputs(model)
                        labels = loss.sample(out, gen) if self.config.fisher == "mc" else chunk.targets
                        loss.check_targets(out, labels)
                        nll = loss.nll(out, labels, chunk.mask)
                        if nll.requires_grad:  # (else no layer reaches the outputs: all are reported below)
                            nll.backward()
                    passes += 1
        finally:
            for h in handles:
                h.remove()
            for p, f in zip(params, flags):
                p.requires_grad_(f)
            model.train(was_training)
        dead = [layer.name for layer in layers if seen[layer.group] < passes]
        if dead:
            warnings.warn(f"{self.describe()}: no gradient reaches layer(s) {', '.join(dead)} from the model's "
                          "outputs; they get no posterior and stay in full precision", NoGradientWarning, stacklevel=3)
        return [layer for layer in layers if seen[layer.group] == passes]

    def _scale(self, calib: Calibration) -> tuple[float, float, float]:
        """(N, τ, T) with the per-sample Fisher normalisation folded in."""
        c = self.config
        samples = c.label_samples if c.fisher == "mc" else 1
        n = float(c.n_data if c.n_data is not None else len(calib))
        return n / (len(calib) * samples), float(c.prior_precision), float(c.temperature)


class DiagLaplaceEstimator(_Laplace):
    """Diagonal Laplace: ``σ_i² = T / (N·F_ii + τ)`` (the BayesQ default)."""

    id = "bayesq-diag"

    def estimate(self, target: Any, data: Any) -> dict[str, GaussianPosterior]:
        """Posteriors of the layers that receive a gradient."""
        model, layers, calib = self._prepare(target, data)
        sums = {layer.group: torch.zeros(layer.rows, layer.cols, dtype=torch.float32) for layer in layers}

        def consume(layer: LayerRef, a: torch.Tensor, g: torch.Tensor) -> None:
            step = max(1, MAX_PER_SAMPLE // (layer.rows * layer.cols)) if g.shape[1] > 1 else g.shape[0]
            for i in range(0, g.shape[0], step):  # per-sample gradients a chunk of samples at a time
                ai, gi = a[i:i + step], g[i:i + step]
                if gi.shape[1] > 1:  # positions no gradient reaches in this chunk (padding) add nothing
                    live = gi.ne(0).any(-1).any(0)
                    if not bool(live.all()):
                        ai, gi = ai[:, live], gi[:, live]
                sums[layer.group] += squared_grad_sum({"a": ai, "g": gi}).float()

        with torch.enable_grad():
            layers = self._passes(model, layers, calib, consume)
        scale, tau, temp = self._scale(calib)
        out = {}
        for layer in layers:
            nf = sums.pop(layer.group).numpy()
            nf *= scale
            precision = (nf + tau + self.config.damping * float(nf.mean(dtype=np.float64))) / temp
            out[layer.group] = GaussianPosterior(mean=weight_matrix(layer).astype(np.float32),
                                                 std=(1.0 / np.sqrt(precision)).astype(np.float32))
        return out


class KFACEstimator(_Laplace):
    """K-FAC per linear/conv layer: a matrix-normal posterior (marginal std for the scalar quantizers)."""

    id = "bayesq-kfac"

    def estimate(self, target: Any, data: Any) -> dict[str, KFACPosterior]:
        model, layers, calib = self._prepare(target, data)
        a_sum = {l.group: torch.zeros(l.cols, l.cols, dtype=torch.float64) for l in layers}
        g_sum = {l.group: torch.zeros(l.rows, l.rows, dtype=torch.float64) for l in layers}
        positions = {l.group: 0 for l in layers}

        def consume(l: LayerRef, a: torch.Tensor, g: torch.Tensor) -> None:
            a, g = a.double().reshape(-1, l.cols), g.double().reshape(-1, l.rows)
            if g.shape[0] == a.shape[0]:  # positions no gradient reaches (padding) are not data for A
                live = g.ne(0).any(-1)
                if not bool(live.all()):
                    a, g = a[live], g[live]
            a_sum[l.group] += a.T @ a
            g_sum[l.group] += g.T @ g
            positions[l.group] += a.shape[0]

        with torch.enable_grad():
            layers = self._passes(model, layers, calib, consume)
        scale, tau, temp = self._scale(calib)
        samples = len(calib) * (self.config.label_samples if self.config.fisher == "mc" else 1)
        out = {}
        for l in layers:
            a = a_sum[l.group].numpy() / positions[l.group]
            g = g_sum[l.group].numpy() / samples
            n_eff = scale * samples
            damp = self.config.damping
            a_f = np.sqrt(n_eff) * (a + damp * np.mean(np.diag(a)) * np.eye(l.cols)) + np.sqrt(tau) * np.eye(l.cols)
            g_f = np.sqrt(n_eff) * (g + damp * np.mean(np.diag(g)) * np.eye(l.rows)) + np.sqrt(tau) * np.eye(l.rows)
            a_f, g_f = 0.5 * (a_f + a_f.T), 0.5 * (g_f + g_f.T)
            std = np.sqrt(temp * np.outer(np.diag(np.linalg.inv(g_f)), np.diag(np.linalg.inv(a_f))))
            out[l.group] = KFACPosterior(mean=weight_matrix(l), std=std, a_factor=a_f, g_factor=g_f,
                                         temperature=temp)
        return out


@dataclasses.dataclass(frozen=True)
class LowRankOptions(LaplaceOptions):
    rank: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rank < 0:
            raise ConfigError("estimator 'bayesq-lowrank': rank must be >= 0")


class LowRankEstimator(_Laplace):
    """Low rank plus diagonal per layer, from the per-sample gradients' top singular vectors."""

    id = "bayesq-lowrank"
    Config = LowRankOptions

    #: Most per-sample gradient entries (samples × weights of one layer) held at once.
    MAX_JACOBIAN = 1 << 26

    def estimate(self, target: Any, data: Any) -> dict[str, LowRankPosterior]:
        model, layers, calib = self._prepare(target, data)
        for l in layers:
            samples = len(calib) * (self.config.label_samples if self.config.fisher == "mc" else 1)
            if samples * l.rows * l.cols > self.MAX_JACOBIAN:
                raise InputError(f"{self.describe()}: layer {l.name!r} × {samples} samples needs "
                                 f"{samples * l.rows * l.cols} gradient entries (limit {self.MAX_JACOBIAN}); "
                                 "use fewer calibration samples or the diagonal/K-FAC estimator")
        rows: dict[str, list[torch.Tensor]] = {l.group: [] for l in layers}

        def consume(l: LayerRef, a: torch.Tensor, g: torch.Tensor) -> None:
            rows[l.group].append(per_sample_grads({"a": a, "g": g}).reshape(-1, l.rows * l.cols).float())

        with torch.enable_grad():
            layers = self._passes(model, layers, calib, consume)
        scale, tau, temp = self._scale(calib)
        out = {}
        for l in layers:
            jac = torch.cat(rows[l.group]).double().numpy()          # (S, P); F = scale/N · J^T J
            fisher_diag = (jac * jac).sum(0)
            k = min(self.config.rank, *jac.shape)
            if k:
                # top-k eigenpairs of J^T J from the small Gram matrix J J^T (samples × samples)
                gval, gvec = np.linalg.eigh(jac @ jac.T)
                top = np.argsort(gval)[::-1][:k]
                lowrank_eig = np.maximum(gval[top], 0.0)
                keep = lowrank_eig > 1e-12 * max(float(gval.max()), 1e-300)
                lowrank_eig, top = lowrank_eig[keep], top[keep]
                k = int(top.size)
                vt = (jac.T @ gvec[:, top] / np.sqrt(lowrank_eig)).T       # J^T J ≈ V diag(s²) V^T
                resid = np.maximum(fisher_diag - (lowrank_eig @ (vt * vt)), 0.0)
            else:
                vt, lowrank_eig, resid = np.zeros((0, jac.shape[1])), np.zeros(0), fisher_diag
            d = (scale * resid + tau + self.config.damping * scale * fisher_diag.mean()) / temp  # diagonal part of Λ
            # Λ = D + V M V^T with M = scale·s²/T  ->  D^{1/2}(I + B B^T)D^{1/2}, B = D^{-1/2} V M^{1/2}
            b = (vt.T / np.sqrt(d)[:, None]) * np.sqrt(scale * lowrank_eig / temp)[None, :]
            if k:
                q, r = np.linalg.qr(b)
                e, w = np.linalg.eigh(r @ r.T)
                basis, eig = (q @ w).T, np.maximum(e, 0.0)
            else:
                basis, eig = np.zeros((0, d.size)), np.zeros(0)
            mean = weight_matrix(l)
            d = d.reshape(mean.shape)
            std = LowRankWhitening(mean, d, basis, eig).marginal_std()
            out[l.group] = LowRankPosterior(mean=mean, std=std, diag=d, basis=basis, eig=eig)
        return out
