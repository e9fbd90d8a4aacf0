"""Hypothesis strategies for codecframe components and the values they exchange.

Posteriors come from each class's ``example(rng, shape)`` and configs from ``Component.examples()``,
so a new component is covered as soon as it implements those two classmethods. Random arrays are
generated from a drawn seed with numpy (fast for long arrays; hypothesis shrinks the seed and the
sizes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..abc import Posterior
from ..config import Component
from ..probability import MAX_PRECISION, MIN_PRECISION, ParametricModel, ProbabilityModel
from ..probability.grids import FAMILIES

__all__ = [
    "seeds",
    "shapes",
    "posteriors",
    "configs",
    "components",
    "probability_models",
    "symbols",
    "models_and_symbols",
    "parametric_models",
    "parametric_symbols",
]

#: Seeds for ``np.random.default_rng``.
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def shapes(min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 8) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes (tuples of ints)."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


def posteriors(
    cls: type[Posterior], shape: st.SearchStrategy[tuple[int, ...]] | None = None
) -> st.SearchStrategy[Posterior]:
    """Instances of the posterior class ``cls`` built by ``cls.example(rng, shape)``."""
    return st.builds(lambda seed, s: cls.example(np.random.default_rng(seed), s), seeds, shapes() if shape is None else shape)


def configs(cls: type[Component]) -> st.SearchStrategy[dict[str, Any]]:
    """Full config dicts ``{"id", "version", **options}`` of ``cls``, one per ``cls.examples()`` entry.

    Not for posteriors (their instances need arrays): use :func:`posteriors` and ``get_config()``.
    """
    return st.sampled_from(cls.examples()).map(lambda options: cls(**options).get_config())


def components(cls: type[Component]) -> st.SearchStrategy[Component]:
    """Instances of ``cls`` built from its ``examples()``."""
    return st.sampled_from(cls.examples()).map(lambda options: cls(**options))


@st.composite
def probability_models(
    draw: st.DrawFn,
    precision: int | st.SearchStrategy[int] | None = None,
    max_models: int = 4,
    max_alphabet: int = 64,
    offsets: st.SearchStrategy[int] | None = None,
) -> ProbabilityModel:
    """Integer table models: 1..``max_models`` rows of 1..``max_alphabet`` symbols.

    Counts are skewed (geometric, many zeros, some huge) so that tables with frequency-1 symbols
    and near-deterministic rows are common. Rows may have different sizes and offsets.
    """
    if precision is None:
        precision = st.sampled_from([MIN_PRECISION, 16, MAX_PRECISION])
    prec = draw(precision) if isinstance(precision, st.SearchStrategy) else precision
    m = draw(st.integers(1, max_models))
    a_max = draw(st.integers(1, min(max_alphabet, 1 << prec)))
    rng = np.random.default_rng(draw(seeds))
    sizes = rng.integers(1, a_max + 1, m)
    sizes[rng.integers(0, m)] = a_max
    style = draw(st.sampled_from(["geometric", "uniform", "sparse", "peaked"]))
    if style == "geometric":
        counts = rng.geometric(rng.uniform(0.05, 0.9), (m, a_max)) - 1
    elif style == "uniform":
        counts = rng.integers(0, 1000, (m, a_max))
    elif style == "sparse":
        counts = rng.integers(0, 1000, (m, a_max)) * (rng.random((m, a_max)) < 0.2)
    else:
        counts = rng.integers(0, 3, (m, a_max))
        counts[np.arange(m), rng.integers(0, sizes)] = 10**9
    offs = [draw(offsets) for _ in range(m)] if offsets is not None else rng.integers(-100, 100, m)
    return ProbabilityModel.from_counts(counts, precision=prec, offsets=np.asarray(offs), sizes=sizes)


def _sample(rng: np.random.Generator, model: ProbabilityModel, indexes: np.ndarray, style: str) -> np.ndarray:
    sizes = model.sizes[indexes].astype(np.int64)
    if style == "uniform":
        pos = (rng.random(indexes.size) * sizes).astype(np.int64)
    elif style == "edges":
        pos = np.where(rng.random(indexes.size) < 0.5, 0, sizes - 1)
    else:  # distributed as the model says
        u = rng.integers(0, 1 << model.precision, indexes.size)
        cdf = model.cdf[indexes].astype(np.int64)
        pos = np.minimum((cdf <= u[:, None]).sum(axis=1) - 1, sizes - 1)
    return (pos + model.offsets[indexes]).astype(np.int32)


@st.composite
def symbols(
    draw: st.DrawFn, model: ProbabilityModel, max_size: int = 2000
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(symbols, indexes)`` within the support of ``model``; ``indexes`` is None for one-row tables.

    Symbols follow the model, are uniform over the support, or sit at its edges.
    """
    n = draw(st.integers(0, max_size))
    rng = np.random.default_rng(draw(seeds))
    indexes = rng.integers(0, model.num_models, n).astype(np.int32)
    style = draw(st.sampled_from(["model", "uniform", "edges"]))
    syms = _sample(rng, model, indexes, style)
    return syms, (indexes if model.num_models > 1 else None)


@st.composite
def models_and_symbols(
    draw: st.DrawFn, precision: int | st.SearchStrategy[int] | None = None, max_size: int = 2000
) -> tuple[ProbabilityModel, np.ndarray, np.ndarray | None]:
    """``(model, symbols, indexes)``: a table model and data it can code."""
    model = draw(probability_models(precision=precision))
    syms, indexes = draw(symbols(model, max_size=max_size))
    return model, syms, indexes


@st.composite
def parametric_models(
    draw: st.DrawFn,
    precision: int | st.SearchStrategy[int] | None = None,
    max_params: int = 64,
    escape: bool | None = None,
) -> ParametricModel:
    """Parametric models (Gaussian, Laplace or logistic per symbol) with 1..``max_params`` pairs.

    Means lie in [-40, 40] (often outside the support), scales in [0, 30] with some exact zeros;
    supports are 1 to 257 bins around a random centre.
    """
    if precision is None:
        precision = st.sampled_from([MIN_PRECISION, 16, MAX_PRECISION])
    prec = draw(precision) if isinstance(precision, st.SearchStrategy) else precision
    n = draw(st.integers(1, max_params))
    rng = np.random.default_rng(draw(seeds))
    lo = draw(st.integers(-64, 32))
    hi = lo + draw(st.integers(0, 256))
    esc = draw(st.booleans()) if escape is None else escape
    mean = rng.uniform(-40, 40, n)
    scale = np.where(rng.random(n) < 0.1, 0.0, np.exp(rng.uniform(-6, np.log(30), n)))
    return ParametricModel(draw(st.sampled_from(FAMILIES)), mean, scale, lo, hi, esc, prec)


@st.composite
def parametric_symbols(
    draw: st.DrawFn, model: ParametricModel, max_size: int = 2000
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(symbols, indexes)`` for ``model``: near each symbol's mean, clipped to the support unless
    the model has escape bins (then far outliers occur). Without indexes there is one symbol per
    parameter pair."""
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):
        indexes: np.ndarray | None = rng.integers(0, model.num_params, draw(st.integers(0, max_size))).astype(np.int32)
        rows = indexes
    else:
        indexes, rows = None, np.arange(model.num_params)
    values = np.rint(model.mean[rows] + model.scale[rows] * rng.standard_normal(rows.size))
    if model.escape:
        far = rng.random(rows.size) < 0.05
        values = np.where(far, rng.integers(-(1 << 30), 1 << 30, rows.size), values)
    else:
        values = np.clip(values, model.lo, model.hi)
    return values.astype(np.int32), indexes
