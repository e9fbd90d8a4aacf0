"""Closed-form posterior-expected error of scalar quantizers, its tables, and the codebook designs."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codecframe_bayesq.codebooks import codebook_errors, design_codebooks, design_grids, minmax_grids, unit_lloyd_max
from codecframe_bayesq.gaussian_error import (
    RHO_MAX,
    RHO_NARROW,
    best_uniform_gaussian,
    grid_error,
    lloyd_max_gaussian,
    one_sided_error,
    quantizer_error,
    uniform_levels_error,
)


@pytest.mark.nojit
def test_reproduces_max_1960_three_bits():
    step, uniform = best_uniform_gaussian(8)
    _, lloyd = lloyd_max_gaussian(8)
    assert round(uniform, 4) == 0.0374 and round(lloyd, 4) == 0.0345
    assert step == pytest.approx(0.586, abs=1e-3)


@pytest.mark.parametrize("levels, uniform, lloyd", [(2, 0.3634, 0.3634), (4, 0.1188, 0.1175), (16, 0.0115, 0.0095)])
def test_reproduces_max_1960_other_widths(levels, uniform, lloyd):
    assert best_uniform_gaussian(levels)[1] == pytest.approx(uniform, abs=1e-4)
    assert lloyd_max_gaussian(levels)[1] == pytest.approx(lloyd, abs=1e-4)


def test_three_bit_grid_off_centre_matches_the_paper_check():
    # 3-bit grid with Δ = 0.586σ; the mean shifted by 0, 0.5, 1, 2, 3 σ (BayesQ.md, section 3).
    levels = (np.arange(8) - 3.5) * 0.586
    got = quantizer_error(np.array([0.0, 0.5, 1.0, 2.0, 3.0]), 1.0, levels)
    np.testing.assert_allclose(got, [0.037, 0.048, 0.092, 0.475, 1.82], atol=6e-3)


@settings(max_examples=25, deadline=None)
@given(mean=st.floats(-3, 3), log_std=st.floats(-3, 1), bits=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_closed_form_matches_monte_carlo(mean, log_std, bits, seed):
    rng = np.random.default_rng(seed)
    std = float(np.exp(log_std))
    levels = np.sort(rng.normal(0, 1.5, 1 << bits))
    x = mean + std * rng.standard_normal(200_000)
    mids = 0.5 * (levels[1:] + levels[:-1])
    mc = (x - levels[np.searchsorted(mids, x)]) ** 2
    exact = quantizer_error(np.array([mean]), std, levels)[0]
    assert abs(exact - mc.mean()) <= 5 * mc.std() / np.sqrt(x.size) + 1e-12


@settings(max_examples=30, deadline=None)
@given(u=st.floats(-40, 40), rho=st.floats(RHO_NARROW, 2 * RHO_MAX))
def test_one_sided_table_matches_exact(u, rho):
    """Where the tables are read (ρ ≥ RHO_NARROW; narrower posteriors are computed exactly)."""
    table = one_sided_error(np.array([u]), rho)[0]
    exact = one_sided_error(np.array([u]), rho, exact=True)[0]
    # bilinear reading: within 1.5e-3 of the grid-unit scale (1/12 + ρ²) or 0.4 % of the value
    assert abs(table - exact) <= max(1.5e-3 * (1 / 12 + rho * rho), 4e-3 * exact)


@settings(max_examples=25, deadline=None)
@given(bits=st.integers(1, 8), log_rho=st.floats(-8, 2.5), offset=st.floats(-0.5, 1.5), seed=st.integers(0, 2**16))
def test_grid_table_matches_exact_and_monte_carlo(bits, log_rho, offset, seed):
    rng = np.random.default_rng(seed)
    count, step = 1 << bits, 0.1
    zero = -0.5 * step * (count - 1)
    mean = zero + step * (count - 1) * (offset + 0.05 * rng.standard_normal(64))
    std = step * np.exp(log_rho + 0.3 * rng.standard_normal(64))
    table = grid_error(mean, std, step, zero, count)
    exact = uniform_levels_error(mean, std, step, zero, count)
    # summed over a block (what the design uses) the table is exact to 0.5 %
    assert abs(table.sum() - exact.sum()) <= 5e-3 * exact.sum() + 1e-12
    assert np.all(np.abs(table - exact) <= 2e-3 * step * step + 2e-2 * exact)
    i = int(rng.integers(0, 64))
    x = mean[i] + std[i] * rng.standard_normal(100_000)
    mc = (x - (zero + step * np.clip(np.rint((x - zero) / step), 0, count - 1))) ** 2
    assert abs(table[i] - mc.mean()) <= 5 * mc.std() / np.sqrt(x.size) + 2e-3 * step * step


def _row_problem(seed, rows=6, cols=80):
    rng = np.random.default_rng(seed)
    mean = rng.standard_normal((rows, cols)) * rng.uniform(0.02, 0.2, (rows, 1))
    mean[:, 0] *= 6  # an outlier per row
    std = np.abs(mean).mean() * np.exp(rng.uniform(-3, 0.5, (rows, cols)))
    return mean, std


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_searched_grid_never_worse_than_minmax(bits):
    mean, std = _row_problem(bits)
    searched, minmax = design_grids(mean, std, bits), minmax_grids(mean, std, bits)
    assert np.all(searched.dist <= minmax.dist * (1 + 1e-9))
    assert searched.dist.sum() < minmax.dist.sum()
    # the reported distortion is the whitened expected error of the chosen grid
    for r in range(mean.shape[0]):
        exact = uniform_levels_error(mean[r], std[r], searched.step[r], searched.zero[r], 1 << bits) / std[r] ** 2
        assert searched.dist[r] == pytest.approx(exact.sum(), rel=5e-3)


@pytest.mark.parametrize("bits", [2, 3])
def test_lloyd_codebook_improves_on_its_uniform_start(bits):
    mean, std = _row_problem(10 + bits)
    grid = design_grids(mean, std, bits)
    book = design_codebooks(mean, std, bits, grid)
    assert book.dist.sum() <= grid.dist.sum() * (1 + 1e-9)
    np.testing.assert_allclose(book.dist, codebook_errors(mean, std, book.levels, book.scale, book.zero))
    assert np.all(np.diff(book.levels) > 0)


def test_unit_lloyd_max_levels_are_symmetric_and_scaled():
    for bits in (1, 2, 3, 4):
        lv = unit_lloyd_max(bits)
        assert lv[-1] == 1.0 and np.allclose(lv, -lv[::-1])
