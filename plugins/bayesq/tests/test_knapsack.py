"""Greedy knapsack: budget, optimality on convex instances, monotonicity, constraints, errors."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codecframe.errors import CodecframeError, InputError
from codecframe.testing import check_allocator
from codecframe.types import AllocationGroup, RateOption
from codecframe_bayesq.knapsack import KnapsackAllocator, PresetAllocator, greedy_knapsack, lower_hull

WIDTHS = (2, 3, 4, 5, 6, 8)


def convex_units(rng, n, sizes=None):
    """Units with decreasing convex distortion in bits (D = v·2^(-2b), the high-rate law)."""
    sizes = rng.integers(1, 6, n) if sizes is None else sizes
    var = rng.uniform(0.1, 10, n)
    costs = [[float(s * b) for b in WIDTHS] for s in sizes]
    dists = [[float(s * v * 4.0 ** -b) for b in WIDTHS] for s, v in zip(sizes, var)]
    return costs, dists


def brute_force(costs, dists, budget):
    best = np.inf
    for pick in itertools.product(*[range(len(c)) for c in costs]):
        cost = sum(c[p] for c, p in zip(costs, pick))
        if cost <= budget + 1e-9:
            best = min(best, sum(d[p] for d, p in zip(dists, pick)))
    return best


def total(picks, table):
    return sum(t[p] for t, p in zip(table, picks))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), avg=st.floats(2.0, 8.0))
def test_never_exceeds_budget_and_optimal_for_equal_units(seed, n, avg):
    rng = np.random.default_rng(seed)
    # equal sizes and unit width steps (widths 2..6): every upgrade costs the same, greedy is exact
    sizes = np.full(n, 3)
    var = rng.uniform(0.1, 10, n)
    costs = [[3.0 * b for b in range(2, 7)] for _ in range(n)]
    dists = [[3.0 * v * 4.0 ** -b for b in range(2, 7)] for v in var]
    budget = avg * 3 * n
    if budget < 6 * n:
        return
    picks = greedy_knapsack(costs, dists, budget)
    assert total(picks, costs) <= budget + 1e-9
    assert total(picks, dists) == pytest.approx(brute_force(costs, dists, budget), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 4), frac=st.floats(0, 1))
def test_optimal_on_convex_instances_for_the_rate_it_spends(seed, n, frac):
    """Marginal analysis on convex curves: until the first upgrade that does not fit, the allocation is
    a convex-hull point, optimal for its own cost (Shoham & Gersho 1988)."""
    rng = np.random.default_rng(seed)
    costs, dists = convex_units(rng, n)
    lo, hi = sum(c[0] for c in costs), sum(c[-1] for c in costs)
    budget = lo + frac * (hi - lo)
    hull = greedy_knapsack(costs, dists, budget, fill=False)
    spent = total(hull, costs)
    assert spent <= budget + 1e-9
    assert total(hull, dists) <= brute_force(costs, dists, spent) * (1 + 1e-12)
    # filling the leftover budget only helps, stays within budget, and is within one upgrade of the optimum
    picks = greedy_knapsack(costs, dists, budget)
    assert total(picks, costs) <= budget + 1e-9
    assert total(picks, dists) <= total(hull, dists)
    assert total(picks, dists) <= brute_force(costs, dists, budget) + max(d[0] - d[-1] for d in dists)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), a=st.floats(0, 1), b=st.floats(0, 1))
def test_monotone_in_the_budget(seed, n, a, b):
    rng = np.random.default_rng(seed)
    costs, dists = convex_units(rng, n)
    lo, hi = sum(c[0] for c in costs), sum(c[-1] for c in costs)
    small, large = sorted((lo + a * (hi - lo), lo + b * (hi - lo)))
    d_small = total(greedy_knapsack(costs, dists, small), dists)
    d_large = total(greedy_knapsack(costs, dists, large), dists)
    assert d_large <= d_small * (1 + 1e-12)


def test_lower_hull_drops_dominated_and_concave_points():
    cost = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    dist = np.array([10.0, 9.5, 4.0, 4.0, 1.0])  # (2, 9.5) lies above the chord; (4, 4) adds nothing
    assert lower_hull(cost, dist) == [0, 2, 4]


def test_impossible_budget_is_a_clear_error():
    costs, dists = [[2.0, 3.0]], [[1.0, 0.5]]
    with pytest.raises(InputError, match="below the cheapest"):
        greedy_knapsack(costs, dists, 1.0)


def groups(rng, layers=(("fc1", 8, 16), ("fc2", 4, 8), ("fc3", 2, 16))):
    out = []
    for layer, rows, cols in layers:
        for r in range(rows):
            v = float(rng.uniform(0.1, 10))
            out.append(AllocationGroup(f"{layer}.weight#{r}", cols, {"bits": 2},
                                       tuple(RateOption({"bits": b}, float(b * cols), cols * v * 4.0 ** -b)
                                             for b in WIDTHS)))
    return out


def alloc_bits(settings):
    return [s["bits"] for s in settings]


def test_allocator_meets_code_budget_and_constraints():
    rng = np.random.default_rng(0)
    gs = groups(rng)
    n = sum(g.size for g in gs)
    for avg in (2.5, 3.0, 3.5, 4.0):
        bits = alloc_bits(KnapsackAllocator(avg_bits=avg, rate="code").allocate(gs))
        spent = sum(b * g.size for b, g in zip(bits, gs))
        assert spent <= avg * n and spent > (avg - 1) * n
    cfg = dict(avg_bits=6.5, rate="code", allowed_bits=[2, 4, 8], pin_first=8, share="aligned:4")
    bits = alloc_bits(KnapsackAllocator(**cfg).allocate(gs))
    assert set(bits) <= {2, 4, 8}
    assert bits[:8] == [8] * 8  # first layer pinned
    for i in range(8, 12, 4):   # fc2 rows 0-3 share one width
        assert len(set(bits[i:i + 4])) == 1
    bits = alloc_bits(KnapsackAllocator(avg_bits=3.0, rate="code", share="layer", pin_last=4).allocate(gs))
    assert len(set(bits[:8])) == 1 and len(set(bits[8:12])) == 1 and bits[12:] == [4, 4]


def test_allocator_rejects_impossible_budgets():
    gs = groups(np.random.default_rng(1))
    with pytest.raises(InputError, match="below the smallest"):
        KnapsackAllocator(avg_bits=1.5, rate="code").allocate(gs)
    with pytest.raises(InputError, match="above the largest"):
        KnapsackAllocator(avg_bits=9.0, rate="code").allocate(gs)
    with pytest.raises(InputError, match="below the smallest"):
        KnapsackAllocator(avg_bits=3.0, rate="code", pin_first=8, pin_last=8, pin={"fc2.weight": 8}).allocate(gs)
    with pytest.raises(InputError, match="not among the groups"):
        KnapsackAllocator(avg_bits=3.0, rate="code", pin={"nope": 4}).allocate(gs)
    with pytest.raises(CodecframeError):
        KnapsackAllocator(avg_bits=3.0, rate="estimate", pin_first=8)


def test_allocator_contract_and_preset():
    check_allocator(KnapsackAllocator)
    check_allocator(PresetAllocator)
    gs = groups(np.random.default_rng(2))[:3]
    out = PresetAllocator().assign({gs[0].name: {"bits": 5}}).allocate(gs)
    assert out == [{"bits": 5}, {"bits": 2}, {"bits": 2}]
