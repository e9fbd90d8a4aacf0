"""The fast VBQ search equals brute force over the whole grid; the grid's index arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codecframe_vbq import grid
from codecframe_vbq.prior import knot_points
from codecframe_vbq.search import GUIDE_BUCKETS, brute_force, build_guide, search


def _run_both(mean, std, chan, points, lengths, lam):
    out, ref = np.empty(mean.size, np.int32), np.empty(mean.size, np.int32)
    search(mean, std, chan, points, build_guide(points, GUIDE_BUCKETS), lengths, lam, out)
    brute_force(mean, std, chan, points, lengths, grid.levels(lengths.shape[1] - 1), lam, ref)
    return out, ref


@pytest.mark.nojit
def test_grid_levels_and_xi():
    lev = grid.levels(3)
    assert lev.tolist() == [3, 2, 3, 1, 3, 2, 3, 0, 3, 2, 3, 1, 3, 2, 3]
    assert grid.median_index(3) == 7 and grid.xi(3)[7] == 0.5
    # every level n holds 2^n points, and all are odd multiples of 2^-(n+1)
    for n in range(4):
        xs = grid.xi(3)[lev == n]
        assert xs.size == 2**n and np.all((xs * 2 ** (n + 1)) % 2 == 1)


@st.composite
def cases(draw):
    r_max = draw(st.integers(0, 7))
    channels = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(["smooth", "duplicates", "tiny", "wide"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    size = grid.grid_size(r_max)
    if kind == "smooth":
        points = np.sort(rng.standard_normal((channels, size)) * rng.uniform(0.1, 10), axis=1)
    elif kind == "duplicates":  # flat stretches of the quantile function
        points = np.sort(rng.integers(-3, 4, (channels, size)).astype(np.float64), axis=1)
    elif kind == "tiny":
        points = np.sort(rng.standard_normal((channels, size)) * 1e-12, axis=1)
    else:
        points = np.sort(rng.standard_normal((channels, size)) * 1e6, axis=1)
    n = draw(st.integers(1, 60))
    scale = float(np.abs(points).max()) + 1.0
    mean = np.concatenate([rng.standard_normal(n) * scale, rng.choice(points.ravel(), n)])
    std = np.exp(rng.uniform(-8, 4, mean.size)) * draw(st.sampled_from([1.0, 1e-6, 1e6]))
    chan = rng.integers(0, channels, mean.size).astype(np.int64)
    lengths = np.tile(np.arange(r_max + 1, dtype=np.float64), (channels, 1))
    if draw(st.booleans()):  # length-corrected: need not grow with the level
        lengths = lengths + rng.exponential(2.0, lengths.shape)
    lam = draw(st.sampled_from([0.0, 1e-9, 0.01, 0.5, 1.0, 7.0, 1e3, 1e12]))
    return mean, std, chan, points, lengths, lam


@settings(max_examples=300, deadline=None)
@given(cases())
def test_search_equals_brute_force(case):
    out, ref = _run_both(*case)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.nojit
def test_search_equals_brute_force_fixed_seed():
    rng = np.random.default_rng(1)
    points = knot_points(np.sort(rng.standard_normal((2, 9)), axis=1), 7)
    mean = rng.standard_normal(200) * 1.5
    std = np.exp(rng.normal(-1, 1, mean.size))
    chan = rng.integers(0, 2, mean.size).astype(np.int64)
    lengths = np.tile(np.arange(8, dtype=np.float64), (2, 1))
    for lam in (0.01, 1.0, 50.0):
        out, ref = _run_both(mean, std, chan, points, lengths, lam)
        np.testing.assert_array_equal(out, ref)


def test_huge_lambda_gives_the_median_point_and_zero_lambda_the_nearest():
    rng = np.random.default_rng(2)
    points = np.sort(rng.standard_normal((1, grid.grid_size(10))), axis=1)
    mean = rng.standard_normal(500)
    std = np.exp(rng.normal(-1, 1, 500))
    chan = np.zeros(500, np.int64)
    lengths = np.arange(11, dtype=np.float64)[None, :]
    out = np.empty(500, np.int32)
    guide = build_guide(points, GUIDE_BUCKETS)
    search(mean, std, chan, points, guide, lengths, 1e300, out)
    assert np.all(out == grid.median_index(10))
    search(mean, std, chan, points, guide, lengths, 0.0, out)
    nearest = np.abs(points[0][None, :] - mean[:, None]).min(axis=1)
    np.testing.assert_array_equal(np.abs(points[0][out] - mean), nearest)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 12), st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_knot_points_are_monotone_and_hit_the_knots(r_max, q, seed):
    rng = np.random.default_rng(seed)
    knots = np.sort(rng.standard_normal((2, q + 1)) * 10 ** rng.uniform(-6, 6), axis=1)
    pts = knot_points(knots, r_max)
    assert np.all(np.diff(pts, axis=1) >= 0)
    assert np.all(pts >= knots[:, :1]) and np.all(pts <= knots[:, -1:])
    # grid points whose ξ is a multiple of 1/q are exactly the knots
    k = np.arange(grid.grid_size(r_max))
    hit = ((k + 1) * q) % (1 << (r_max + 1)) == 0
    idx = ((k + 1) * q) >> (r_max + 1)
    np.testing.assert_array_equal(pts[:, hit], knots[:, idx[hit]])
