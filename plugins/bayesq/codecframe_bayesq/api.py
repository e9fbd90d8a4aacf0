"""``quantize(model, calibration, avg_bits=3.5, ...)``: BayesQ end to end, and ``.cfr`` save/load.

1. A Laplace posterior over the weights of the supported layers (default ``bayesq-diag``).
2. Per row and allowed width, the codebook minimising posterior-expected whitened distortion
   (``codebook="grid"``: uniform, step and offset searched; ``"lloyd"``: non-uniform Lloyd–Max;
   ``"minmax"``: the round-to-nearest grid, for the "allocation only" ablation).
3. Optionally (``proxy``) the task-aware Monte Carlo KL per layer and width, which rescales the
   closed-form row distortions so that layers trade off by their effect on the predictions.
4. Greedy knapsack over rows (``knapsack`` allocator, code budget ``avg_bits``) with the hardware
   constraints ``allowed_bits``, ``share``, ``pin_first``/``pin_last``/``pin``.
5. Rounding to the nearest level, or (``rounding="gptq"``, the "BayesQ allocation + GPTQ rounding"
   hybrid) GPTQ's error-feedback rounding on GPTQ's own per-row grids at the allocated widths.
6. Optionally (``distill``) calibration-only distillation towards the posterior predictive.

:class:`QuantizedModel` holds the result; ``save(path)`` writes a container through the core
pipeline (quantizer ``bayesq-grid``/``bayesq-lloyd``, allocator ``preset``, any entropy coder);
:func:`load` rebuilds the torch model from it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import codecframe
from codecframe import container
from codecframe.abc import PosteriorEstimator
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import ConfigError, FormatError, InputError
from codecframe.io import atomic_write, read_bytes
from codecframe.pipeline import Pipeline
from codecframe.registry import registry
from codecframe.types import AllocationGroup, RateOption

from .adapters import Adapter
from .baselines import BASELINES, gptq_codes, gptq_model, hessian_groups, quantize_baseline, rtn_code
from .calibration import as_calibration
from .distill import DistillOptions, distill, teacher_probs
from .knapsack import KnapsackAllocator, PresetAllocator
from .layers import LayerRef, Unsupported, check_finite, find_layers, set_weight_matrix, weight_matrix
from .posteriors import rescale
from .proxy import mc_layer_kl, rescale_rows
from .quantizers import MAX_BITS, MIN_BITS, GridQuantizer, LayerCode, LloydQuantizer

__all__ = ["quantize", "QuantizedModel", "load", "META_KEY", "CODEBOOKS"]

META_KEY = "bayesq"
CODEBOOKS = ("grid", "lloyd", "minmax")
#: ``"gptq"``: GPTQ error feedback with Hessians on full-precision inputs (one no-grad pass per group
#: of layers whose Hessians fit in ``HESSIAN_BUDGET``);
#: ``"gptq-sequential"``: Hessians recomputed per layer through the quantized earlier layers.
ROUNDINGS = ("nearest", "gptq", "gptq-sequential")
#: Bytes of float32 Hessian sums held at once by ``rounding="gptq"`` (a group holds at least one layer).
HESSIAN_BUDGET = 1 << 25


@dataclasses.dataclass
class QuantizedModel:
    """A model with quantized weights, its codes and how they were chosen."""

    model: nn.Module
    layers: list[LayerRef]
    unsupported: list[Unsupported]
    codes: dict[str, LayerCode]
    posteriors: dict[str, GaussianPosterior]
    quantizer: GridQuantizer | LloydQuantizer
    options: dict[str, Any]
    timings: dict[str, float]
    architecture: dict[str, Any] | None = None

    # ------------------------------------------------------------------ accounting
    @property
    def n_weights(self) -> int:
        return sum(l.rows * l.cols for l in self.layers)

    def code_bits(self) -> int:
        """Fixed-length index bits: Σ over rows of bits × row length."""
        return int(sum(int((c.bits * c.codes.shape[1]).sum()) for c in self.codes.values()))

    def code_bits_per_weight(self) -> float:
        return self.code_bits() / self.n_weights

    def report(self) -> dict[str, Any]:
        """Per layer: shape and width histogram; totals; layers left in full precision; timings."""
        layers = []
        for l in self.layers:
            bits, counts = np.unique(self.codes[l.group].bits, return_counts=True)
            layers.append({"layer": l.name, "shape": list(l.shape),
                           "rows_per_bits": {str(int(b)): int(c) for b, c in zip(bits, counts)},
                           "code_bits_per_weight": float((self.codes[l.group].bits * l.cols).sum() / (l.rows * l.cols))})
        return {"layers": layers, "n_weights": self.n_weights, "code_bits_per_weight": self.code_bits_per_weight(),
                "full_precision": [dataclasses.asdict(u) for u in self.unsupported], "timings": dict(self.timings),
                "options": dict(self.options)}

    # ------------------------------------------------------------------ files
    def pipeline(self, entropy_coder: str | Mapping[str, Any] = "range") -> tuple[Pipeline, dict[str, GaussianPosterior]]:
        """A pipeline whose quantizer is pinned to these codes, and its groups (one per layer)."""
        q = type(self.quantizer).from_config(self.quantizer.get_config())
        groups, settings = {}, {}
        for l in self.layers:
            post = self.posteriors[l.group]
            g = GaussianPosterior(mean=np.asarray(post.mean, np.float32).reshape(l.rows, l.cols),
                                  std=np.asarray(post.std, np.float32).reshape(l.rows, l.cols))
            q.pin(g, self.codes[l.group])
            groups[l.group] = g
            settings[l.group] = q._setting_of(self.codes[l.group].bits)
        pipe = Pipeline(posterior="gaussian", quantizer=q, allocator=PresetAllocator().assign(settings),
                        entropy_coder=entropy_coder)
        return pipe, groups

    def to_bytes(self, entropy_coder: str | Mapping[str, Any] = "range") -> bytes:
        """The ``.cfr`` container: codes entropy-coded, grids in side info, other parameters as extras."""
        pipe, groups = self.pipeline(entropy_coder)
        quantized = set(groups)
        extras = {k: v.detach().float().numpy() for k, v in self.model.state_dict().items() if k not in quantized}
        meta = {META_KEY: {
            "architecture": self.architecture,
            "layers": [{"name": l.name, "shape": list(l.shape), **({"transposed": True} if l.transposed else {})}
                       for l in self.layers],
            "full_precision": [u.name for u in self.unsupported],
            "code_bits_per_weight": self.code_bits_per_weight(),
            "options": self.options,
        }}
        return pipe.encode(groups, meta=meta, extras=extras)

    def save(self, path: str | Path, entropy_coder: str | Mapping[str, Any] = "range") -> dict[str, Any]:
        """Write the container atomically; returns its size accounting."""
        data = self.to_bytes(entropy_coder)
        atomic_write(path, data)
        return file_accounting(data, self.n_weights, self.code_bits())


def file_accounting(data: bytes, n_weights: int, code_bits: int) -> dict[str, Any]:
    """Sizes of a ``.cfr`` file, the quantized part kept apart from the full-precision extras.

    ``quantized_bits_per_weight``: the file less its full-precision extras (entropy-coded indices,
    per-row grids, count tables, header) per quantized weight; ``coded_index_bits_per_weight``: the
    index streams alone; ``code_bits_per_weight``: the fixed-length index budget. The extras
    (embeddings, norms, biases, layers left unquantized) are listed on their own
    (``full_precision_params``, ``full_precision_bits``, ``full_precision_tensors``);
    ``file_bits_per_parameter`` is the whole file over every parameter it holds.
    """
    box = container.read(data)
    n_groups = len(box.header["groups"])
    payload = 8 * sum(len(s) for s in box.streams[:n_groups])
    extras = 8 * sum(len(s) for s in box.streams[n_groups:])
    tensors = {str(e["name"]): int(np.prod(e["shape"])) for e in box.header.get("extras", [])
               if isinstance(e, dict) and "name" in e and "shape" in e}
    n_extra = sum(tensors.values())
    return {"file_bits": 8 * len(data), "n_weights": n_weights, "code_bits_per_weight": code_bits / n_weights,
            "coded_index_bits_per_weight": payload / n_weights,
            "quantized_bits_per_weight": (8 * len(data) - extras) / n_weights,
            "full_precision_params": n_extra, "full_precision_bits": extras, "full_precision_tensors": tensors,
            "file_bits_per_parameter": 8 * len(data) / (n_weights + n_extra)}


# --------------------------------------------------------------------------- quantize
def relative_posteriors(posteriors: Mapping[str, GaussianPosterior], scale: float,
                        avg_bits: float) -> tuple[dict[str, GaussianPosterior], dict[str, float]]:
    """Rescale each posterior so that median(std) = ``scale`` × the layer's budget step.

    The budget step is the median row range divided by ``2^ceil(avg_bits) - 1``: the min–max step
    of a grid at the narrowest whole width that reaches the budget (at x.5 budgets, the finer of
    the two widths the rows mostly get; chosen over ``avg_bits`` itself on validation data,
    ``benchmarks/bayesq/scale_rule.py``). Returns the posteriors and each layer's std factor ``f``
    (distortions measured with the rescaled posterior are multiplied by ``f²`` to return to the
    estimator's precision scale).
    """
    out = dict(posteriors)
    return out, rescale_in_place(out, scale, avg_bits)


def rescale_in_place(posteriors: dict[str, GaussianPosterior], scale: float, avg_bits: float) -> dict[str, float]:
    """:func:`relative_posteriors` replacing the dict's entries one layer at a time (memory: one
    layer's copy); returns the factors."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ConfigError(f"posterior_scale must be a number > 0 or None, got {scale!r}")
    factors = {}
    for name in list(posteriors):
        post = posteriors[name]
        mean = np.asarray(post.mean)
        rows = mean.reshape(mean.shape[0], -1) if mean.ndim >= 2 else mean.reshape(1, -1)
        step = float(np.median(np.ptp(rows, axis=1))) / (2.0 ** math.ceil(avg_bits) - 1.0)
        med = float(np.median(post.std))
        factors[name] = scale * step / med if step > 0 and med > 0 else 1.0
        posteriors[name] = rescale(post, factors[name])
    return factors


def _estimator(spec: str | Mapping[str, Any] | PosteriorEstimator, seed: int, include: Sequence[str] | None,
               exclude: Sequence[str]) -> tuple[PosteriorEstimator, Sequence[str] | None, Sequence[str]]:
    """The estimator, with the layer patterns of :func:`quantize` (which apply to every stage).

    Patterns given only to the estimator are adopted for every stage; different patterns in both
    places are a ConfigError. Returns the estimator and the effective ``(include, exclude)``.
    """
    if isinstance(spec, PosteriorEstimator):
        cfg, cls = spec.get_config(), type(spec)
    else:
        cfg = {"id": spec} if isinstance(spec, str) else dict(spec)
        cls = registry.get("estimator", str(cfg.get("id")))
    names = {f.name for f in dataclasses.fields(cls.Config)}
    if "include" in names:
        own_inc, own_exc = cfg.get("include"), tuple(cfg.get("exclude") or ())
        own_inc = None if own_inc is None else tuple(own_inc)
        inc = None if include is None else tuple(include)
        exc = tuple(exclude)
        if (own_inc, own_exc) != (None, ()) and (inc, exc) != (None, ()) and (own_inc, own_exc) != (inc, exc):
            raise ConfigError("include/exclude were given both to quantize() and to the estimator, differently; "
                              "give them to quantize() only (they apply to every stage)")
        if (inc, exc) == (None, ()):
            inc, exc = own_inc, own_exc
        cfg["include"], cfg["exclude"] = inc, exc
        include, exclude = inc, exc
    if "seed" in names:
        cfg.setdefault("seed", seed)
    return cls.from_config(cfg), include, exclude


def _share_means(posteriors: dict[str, GaussianPosterior], model: nn.Module, include: Sequence[str] | None,
                 exclude: Sequence[str]) -> None:
    """Make each diagonal posterior's mean a read-only view of the caller's float32 weight where the
    two are equal (``quantize`` never modifies its input model), so the weights are not held twice."""
    for ref in find_layers(model, include, exclude)[0]:
        post = posteriors.get(ref.group)
        w = ref.module.weight.detach()
        if type(post) is not GaussianPosterior or ref.transposed or w.dtype != torch.float32 or not w.is_contiguous():
            continue
        view = w.numpy().reshape(ref.rows, ref.cols)
        if view.shape == post.mean.shape and np.array_equal(view, post.mean):
            view.flags.writeable = False
            posteriors[ref.group] = GaussianPosterior(mean=view, std=post.std)


def _release_std(posteriors: dict[str, GaussianPosterior]) -> None:
    """Replace each per-weight std by its layer's median, broadcast (read-only, no memory per weight)."""
    for name, post in posteriors.items():
        med = np.float32(np.median(post.std))
        posteriors[name] = GaussianPosterior(mean=post.mean, std=np.broadcast_to(med, np.shape(post.mean)))


def _check_budget(avg_bits: float, allowed: Sequence[int]) -> None:
    if isinstance(avg_bits, bool) or not isinstance(avg_bits, (int, float)) or not np.isfinite(avg_bits):
        raise InputError(f"avg_bits must be a finite number, got {avg_bits!r}")
    if not allowed or any(not isinstance(b, (int, np.integer)) or not MIN_BITS <= b <= MAX_BITS for b in allowed):
        raise InputError(f"allowed_bits must be integers in {MIN_BITS}..{MAX_BITS}, got {list(allowed)!r}")
    if not min(allowed) <= avg_bits <= max(allowed):
        raise InputError(f"impossible budget: avg_bits={avg_bits} lies outside the allowed widths "
                         f"{min(allowed)}..{max(allowed)} bits")


def _allocate_on_demand(quantizer: GridQuantizer, alloc: KnapsackAllocator, layers: Sequence[LayerRef],
                        posteriors: Mapping[str, GaussianPosterior], factors: Mapping[str, float],
                        allowed: Sequence[int], avg_bits: float, timings: dict[str, float]) -> dict[str, np.ndarray]:
    """Per-row widths from the knapsack, designing each row's grids only up to the widths it can reach.

    Every row starts with the widths up to ``ceil(avg_bits)`` (at least two); a width not designed
    yet counts as distortion 0 (a lower bound). Rows whose allocation the knapsack cannot certify
    (:func:`~.knapsack.hull_certificate`) get their next width designed, until every row is
    certified: the widths are then exactly those of the allocation with every width designed.
    """
    n_widths = len(allowed)
    start = min(max(int(np.searchsorted(allowed, math.ceil(avg_bits), side="right")), 2), n_widths)
    spec = [(l.group, l.rows, l.cols) for l in layers]
    dist = {l.group: np.zeros((l.rows, n_widths)) for l in layers}
    known = {l.group: np.zeros((l.rows, n_widths), bool) for l in layers}
    grow = {l.group: np.full(l.rows, start) for l in layers}  # rows get widths allowed[:grow] designed
    while True:
        t0 = time.perf_counter()
        for l in layers:
            g = l.group
            for j, b in enumerate(allowed):
                rows = np.flatnonzero(~known[g][:, j] & (j < grow[g]))
                if rows.size:
                    # Σ λ_i E[(w_i - Q(w_i))²] with the smoothing of the rescaled posterior but the
                    # estimator's precisions, so that distortions of different layers stay comparable.
                    dist[g][rows, j] = quantizer.designs(posteriors[g], b, rows).dist[rows] * factors[g] ** 2
                    known[g][rows, j] = True
        timings["codebooks"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        bits, failing = alloc.allocate_rows(spec, allowed, dist, known)
        timings["allocation"] = timings.get("allocation", 0.0) + time.perf_counter() - t0
        if not any(f.any() for f in failing.values()):
            return {g: b.astype(np.int64) for g, b in bits.items()}
        if any((f & known[g].all(axis=1)).any() for g, f in failing.items()):  # (so every loop designs more)
            raise RuntimeError("internal error: a row with every width designed was not certified")
        for l in layers:
            grow[l.group] = known[l.group].sum(axis=1) + failing[l.group]


def _drop_ungraded(layers: list[LayerRef], unsupported: list[Unsupported],
                   posteriors: Mapping[str, Any]) -> tuple[list[LayerRef], list[Unsupported]]:
    """Layers the estimator gave no posterior (no gradient reaches them) move to the full-precision list."""
    dead = [l for l in layers if l.group not in posteriors]
    if not dead:
        return layers, unsupported
    kept = [l for l in layers if l.group in posteriors]
    if not kept:
        raise InputError("no supported layer receives a gradient from the model's outputs, so none can be "
                         "quantized by BayesQ (check that the model's output depends on its Linear/Conv2d layers)")
    return kept, unsupported + [Unsupported(l.name, type(l.module).__name__, sum(p.numel() for p in l.module.parameters(recurse=False)),
                                            "receives no gradient from the model's outputs (unused)") for l in dead]


def _quantize_baseline(model: nn.Module, calibration: Any, avg_bits: float, method: str,
                       include: Sequence[str] | None, exclude: Sequence[str], seed: int,
                       architecture: Mapping[str, Any] | None, adapter: Adapter | None) -> QuantizedModel:
    """A baseline's codes in a :class:`QuantizedModel` (so they are saved through the same container)."""
    t_start = time.perf_counter()
    if isinstance(avg_bits, bool) or not isinstance(avg_bits, (int, float)) or not MIN_BITS <= avg_bits <= MAX_BITS:
        raise InputError(f"avg_bits must be a number in {MIN_BITS}..{MAX_BITS}, got {avg_bits!r}")
    check_finite(model)
    work = copy.deepcopy(model).eval()
    layers, unsupported = find_layers(work, include, exclude)
    calib = as_calibration(calibration, adapter) if method == "gptq" else None
    quantizer = GridQuantizer()
    codes = quantize_baseline(work, layers, method, avg_bits, calib, quantizer)
    posteriors = {l.group: GaussianPosterior(mean=weight_matrix(l).astype(np.float32),
                                             std=np.broadcast_to(np.float32(1.0), (l.rows, l.cols))) for l in layers}
    for l in layers:
        set_weight_matrix(l, codes[l.group].values())
    options = {"method": method, "avg_bits": float(avg_bits), "include": None if include is None else list(include),
               "exclude": list(exclude), "seed": seed}
    return QuantizedModel(work, layers, unsupported, codes, posteriors, quantizer, options,
                          {"total": time.perf_counter() - t_start}, None if architecture is None else dict(architecture))


def quantize(model: nn.Module, calibration: Any, avg_bits: float = 3.5, *,
             estimator: str | Mapping[str, Any] | PosteriorEstimator = "bayesq-diag",
             codebook: str | None = None, allowed_bits: Sequence[int] = (2, 3, 4, 5, 6, 8), share: str = "none",
             pin_first: int | None = None, pin_last: int | None = None, pin: Mapping[str, int] | None = None,
             proxy: Mapping[str, Any] | None = None, distill_options: Mapping[str, Any] | None = None,
             rounding: str = "gptq", posterior_scale: float | None = 1.0, include: Sequence[str] | None = None, exclude: Sequence[str] = (),
             seed: int = 0, architecture: Mapping[str, Any] | None = None, method: str = "bayesq",
             adapter: Adapter | None = None, keep_posteriors: bool = False,
             progress: Callable[[str], None] | None = None) -> QuantizedModel:
    """Quantize ``model``'s Linear/Conv2d weights to an average of ``avg_bits`` code bits per weight.

    ``method``: ``"bayesq"`` (this module), or a baseline at the same code bits written through the
    same container: ``"rtn"`` (min–max with zero point), ``"rtn-mse"`` (MSE-clipped), ``"gptq"``
    (act-order, padding masked), ``"hqq"`` (needs the ``hqq`` package); see :mod:`.baselines`. The
    baselines take ``avg_bits``, ``include``/``exclude``, ``seed`` and ``architecture`` only.
    ``include``/``exclude`` (glob patterns on module paths) apply to every stage.
    ``codebook`` None: ``"minmax"`` under GPTQ rounding (the grid it rounds onto), else ``"grid"``.

    ``calibration``: inputs (or ``(inputs, targets)``), first axis = samples. ``proxy``: e.g.
    ``{"samples": 8}`` for the Monte Carlo KL proxy (``"calibration"``: how many inputs it uses,
    default 128). ``distill_options``: e.g. ``{"steps": 200}`` (see :class:`DistillOptions`).
    ``posterior_scale``: each layer's posterior is rescaled (its precision shape kept) so that its
    median standard deviation is this multiple of the layer's min–max step at ``ceil(avg_bits)``
    (median row range / (2^ceil(avg_bits) - 1)); None keeps the estimator's scale (docs/bayesq.md says why).
    ``architecture`` (JSON) is stored in the file so that :func:`load` can rebuild the model.
    ``adapter`` (:mod:`.adapters`): how to call the model and read its output, for models that are
    not "tensor in, logits out" (dict inputs, text, embeddings); a Calibration carries its own.
    ``keep_posteriors``: keep every weight's posterior std in ``QuantizedModel.posteriors``; by
    default it is released once the widths are chosen (memory: one float32 per weight) and each
    layer keeps its median std, broadcast. The posterior means are read-only views of the input
    model's float32 weights where possible. ``progress(stage)`` is called as each stage starts
    (``"posterior"``, ``"widths"``, ``"rounding"``, ``"distillation"``). The input model is not modified.
    """
    t_start = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if method != "bayesq":
        if method not in BASELINES:
            raise ConfigError(f"method must be one of bayesq, {', '.join(BASELINES)}; got {method!r}")
        return _quantize_baseline(model, calibration, avg_bits, method, include, exclude, seed, architecture, adapter)
    if codebook is None:  # the distortions the knapsack weighs are those of the grid the rounding uses
        codebook = "grid" if rounding == "nearest" else "minmax"
    if codebook not in CODEBOOKS:
        raise ConfigError(f"codebook must be one of {', '.join(CODEBOOKS)}, got {codebook!r}")
    if rounding not in ROUNDINGS:
        raise ConfigError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    allowed = sorted({int(b) for b in allowed_bits}) if allowed_bits else []
    _check_budget(avg_bits, allowed_bits)
    check_finite(model)
    calib = as_calibration(calibration, adapter)
    if (proxy is not None or distill_options is not None) and (
            not isinstance(calib.inputs, torch.Tensor) or calib.adapter != Adapter()):
        raise ConfigError("proxy and distill_options support plain models only (one tensor in, logits out); "
                          "models that need an adapter (dict inputs, texts, embeddings) take the default path")
    work = copy.deepcopy(model).eval()
    est, include, exclude = _estimator(estimator, seed, include, exclude)
    layers, unsupported = find_layers(work, include, exclude)
    with torch.no_grad():
        calib.select(slice(0, 2)).outputs(work)
    timings: dict[str, float] = {}

    note = progress or (lambda stage: None)
    note("posterior")
    t0 = time.perf_counter()
    posteriors = est.estimate(work, calib)
    layers, unsupported = _drop_ungraded(layers, unsupported, posteriors)
    _share_means(posteriors, model, include, exclude)
    factors = {l.group: 1.0 for l in layers}
    if posterior_scale is not None:
        factors = rescale_in_place(posteriors, posterior_scale, avg_bits)
    timings["posterior"] = time.perf_counter() - t0

    note("widths")
    t0 = time.perf_counter()
    if codebook == "lloyd":
        quantizer: GridQuantizer | LloydQuantizer = LloydQuantizer(allowed_bits=tuple(allowed))
    else:
        quantizer = GridQuantizer(allowed_bits=tuple(allowed), search="minmax" if codebook == "minmax" else "expected")
    pins = {f"{k}.weight": v for k, v in (pin or {}).items()}
    alloc = KnapsackAllocator(avg_bits=float(avg_bits), rate="code", allowed_bits=tuple(float(b) for b in allowed),
                              share=share, pin_first=pin_first, pin_last=pin_last, pin=pins)
    timings["codebooks"] = time.perf_counter() - t0

    if quantizer.row_wise and share == "none" and proxy is None:
        row_bits = _allocate_on_demand(quantizer, alloc, layers, posteriors, factors, allowed, avg_bits, timings)
    else:
        t0 = time.perf_counter()
        # Σ λ_i E[(w_i - Q(w_i))²] with the smoothing of the rescaled posterior but the estimator's
        # precisions, so that distortions of different layers stay comparable.
        row_dist = {l.group: quantizer.row_distortions(posteriors[l.group], allowed) * factors[l.group] ** 2
                    for l in layers}
        timings["codebooks"] += time.perf_counter() - t0

        if proxy is not None:
            t0 = time.perf_counter()
            popts = dict(proxy)
            unknown = set(popts) - {"samples", "calibration"}
            if unknown:
                raise ConfigError(f"proxy: unknown option(s) {', '.join(sorted(unknown))}")
            width_codes = {l.group: {b: quantizer.code_for(posteriors[l.group], np.full(l.rows, b)) for b in allowed}
                           for l in layers}
            kl = mc_layer_kl(work, layers, posteriors, width_codes, calib.inputs[: int(popts.get("calibration", 128))],
                             allowed, int(popts.get("samples", 8)), seed)
            row_dist = {g: rescale_rows(d, kl[g]) for g, d in row_dist.items()}
            timings["proxy"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        groups = []
        for l in layers:
            d, cols = row_dist[l.group].tolist(), l.cols
            for r in range(l.rows):
                groups.append(AllocationGroup(f"{l.group}#{r}", cols, {"bits": allowed[0]},
                                              tuple(RateOption({"bits": b}, float(b * cols), d[r][j])
                                                    for j, b in enumerate(allowed))))
        settings = alloc.allocate(groups)
        row_bits = {}
        i = 0
        for l in layers:
            row_bits[l.group] = np.array([int(s["bits"]) for s in settings[i:i + l.rows]], np.int64)
            i += l.rows
        timings["allocation"] = time.perf_counter() - t0
    note("rounding")
    if rounding == "nearest":
        t0 = time.perf_counter()
        codes = {l.group: quantizer.code_for(posteriors[l.group], row_bits[l.group]) for l in layers}
        timings["allocation"] += time.perf_counter() - t0
    if not keep_posteriors and distill_options is None:  # the widths (and for nearest rounding the codes) are fixed: the stds have done their work
        _release_std(posteriors)
    if rounding == "gptq":
        # GPTQ rounding on GPTQ's own per-row grids (quant.py: min–max widened to 0) at the chosen widths,
        # rounded to the stored precision first so that the error feedback sees the decoded grid. The
        # Hessians are on full-precision inputs (weights are written only after every layer is
        # rounded), a group of layers per no-grad pass so that only one group's Hessians are held.
        t0 = time.perf_counter()
        codes = {}
        for l, hessian in hessian_groups(work, layers, calib, HESSIAN_BUDGET):
            w = weight_matrix(l)
            codes[l.group] = gptq_codes(w, hessian, quantizer.rounded(rtn_code(w, row_bits[l.group]), None))
        timings["gptq_rounding"] = time.perf_counter() - t0
    elif rounding == "gptq-sequential":  # Hessians on inputs through the quantized earlier layers
        t0 = time.perf_counter()
        grids = {l.group: quantizer.rounded(rtn_code(weight_matrix(l), row_bits[l.group]), None) for l in layers}
        codes = gptq_model(work, layers, calib, grids)
        timings["gptq_rounding"] = time.perf_counter() - t0
    for l in layers:
        set_weight_matrix(l, codes[l.group].values())

    if distill_options is not None:
        note("distillation")
        t0 = time.perf_counter()
        try:
            dopts = DistillOptions(**{"seed": seed, **dict(distill_options)})
        except TypeError as exc:
            raise ConfigError(f"distill_options: {exc}") from None
        teacher_model = copy.deepcopy(model).eval()
        t_layers = [l for l in find_layers(teacher_model, include, exclude)[0] if l.group in posteriors]
        t_posts = {g: rescale(p, dopts.teacher_scale) for g, p in posteriors.items()}
        teacher = teacher_probs(teacher_model, t_layers, t_posts, calib.inputs, dopts.samples, dopts.temperature, seed)
        codes = distill(work, layers, codes, teacher, calib.inputs, dopts)
        codes = {g: quantizer.rounded(c, None) for g, c in codes.items()}
        for l in layers:
            set_weight_matrix(l, codes[l.group].values())
        timings["distillation"] = time.perf_counter() - t0

    timings["total"] = time.perf_counter() - t_start
    options = {"method": "bayesq", "avg_bits": float(avg_bits), "estimator": est.get_config(), "codebook": codebook,
               "allowed_bits": allowed, "share": share, "pin_first": pin_first, "pin_last": pin_last,
               "pin": dict(pin or {}), "proxy": None if proxy is None else dict(proxy),
               "distill": None if distill_options is None else dict(distill_options), "rounding": rounding,
               "posterior_scale": posterior_scale, "include": None if include is None else list(include),
               "exclude": list(exclude), "seed": seed}
    return QuantizedModel(work, layers, unsupported, codes, posteriors, quantizer, options, timings,
                          None if architecture is None else dict(architecture))


# --------------------------------------------------------------------------- load
def load(source: str | Path | bytes, model: nn.Module | None = None) -> nn.Module:
    """Rebuild a torch model from a BayesQ ``.cfr`` file.

    ``model``: the target architecture (its weights are overwritten). If omitted, the file must name
    a bundled example architecture. A file that does not fit the architecture raises InputError.
    """
    data = source if isinstance(source, (bytes, bytearray)) else read_bytes(source)
    decoded = codecframe.decode(bytes(data))
    meta = decoded.meta.get(META_KEY)
    if not isinstance(meta, dict):
        raise FormatError("not a BayesQ model file (no 'bayesq' entry in the container meta)")
    if model is None:
        arch = meta.get("architecture")
        if not isinstance(arch, dict) or "name" not in arch:
            raise InputError("the file does not name a bundled architecture; pass the target model to load()")
        from .loading import build_checked

        model = build_checked(arch, {**decoded.arrays, **decoded.extras})
    state = model.state_dict()
    provided = {**decoded.arrays, **decoded.extras}
    transposed = {f"{l.get('name')}.weight" for l in meta.get("layers") or [] if isinstance(l, dict) and l.get("transposed")}
    problems, loaded = [], {}
    for name, arr in provided.items():
        if name not in state:
            problems.append(f"{name!r} is not a parameter or buffer of the model")
            continue
        target = state[name]
        if name in transposed and arr.ndim == 2 and target.ndim == 2:
            arr = arr.T  # weights stored in × out (transformers' Conv1D) are coded as out × in
        elif name in decoded.arrays and arr.ndim == 2 and arr.size == target.numel():
            arr = arr.reshape(tuple(target.shape))  # convolution kernels are stored as out × (in·kh·kw)
        if tuple(target.shape) != tuple(arr.shape):
            problems.append(f"{name!r} has shape {tuple(arr.shape)} in the file but {tuple(target.shape)} in the model")
            continue
        loaded[name] = torch.from_numpy(np.ascontiguousarray(arr)).to(target.dtype)
    missing = sorted(set(state) - set(provided))
    if missing:
        problems.append(f"the file has no values for {', '.join(repr(m) for m in missing[:5])}")
    if problems:
        raise InputError("the file does not fit the target architecture: " + "; ".join(problems[:5]))
    model.load_state_dict(loaded)
    return model.eval()
