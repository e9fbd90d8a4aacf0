"""The fast paths of the codebook search and the allocation give the results of the simple ones."""

import heapq

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.types import AllocationGroup, RateOption
from codecframe_bayesq.api import _allocate_on_demand
from codecframe_bayesq.codebooks import design_grids
from codecframe_bayesq.gaussian_error import _cdf, _pdf, _phi_table, grid_error_sum, one_sided_table
from codecframe_bayesq.knapsack import KnapsackAllocator, greedy_knapsack, hull_certificate, lower_hull
from codecframe_bayesq.layers import LayerRef
from codecframe_bayesq.quantizers import GridQuantizer, _nearest

WIDTHS = [2, 3, 4, 5, 6, 8]


# --------------------------------------------------------------------------- reference greedy (plain Python)
def reference_hull(cost, dist):
    order = sorted(range(len(cost)), key=lambda i: (cost[i], dist[i]))
    hull = []
    for i in order:
        if hull and (cost[i] == cost[hull[-1]] or dist[i] >= dist[hull[-1]]):
            continue
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (dist[b] - dist[a]) * (cost[i] - cost[a]) >= (dist[i] - dist[a]) * (cost[b] - cost[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def reference_greedy(costs, dists, budget, fill=True):
    hulls = [reference_hull(c, d) for c, d in zip(costs, dists)]
    pos = [0] * len(hulls)
    spent = float(sum(costs[u][h[0]] for u, h in enumerate(hulls)))
    if spent > budget * (1 + 1e-12):
        return None
    heap = []

    def push(u):
        h, p = hulls[u], pos[u]
        if p + 1 < len(h):
            a, b = h[p], h[p + 1]
            heapq.heappush(heap, (-(dists[u][a] - dists[u][b]) / (costs[u][b] - costs[u][a]), u, p))

    for u in range(len(hulls)):
        push(u)
    while heap:
        _, u, p = heapq.heappop(heap)
        h = hulls[u]
        extra = costs[u][h[p + 1]] - costs[u][h[p]]
        if spent + extra <= budget * (1 + 1e-12):
            spent += extra
            pos[u] = p + 1
            push(u)
        elif not fill:
            break
    return [h[p] for h, p in zip(hulls, pos)]


def random_units(rng, n, ties):
    sizes = rng.integers(1, 5, n)
    costs = [[float(s * b) for b in sorted(rng.choice(np.arange(1, 9), int(rng.integers(1, 7)), replace=False))]
             for s in sizes]
    if ties:
        dists = [[float(v) for v in np.round(rng.uniform(0, 4, len(c)))] for c in costs]
    else:
        dists = [[float(v) for v in rng.uniform(0, 10, len(c))] for c in costs]
    return costs, dists


@pytest.mark.nojit
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 25), ties=st.booleans(), frac=st.floats(-0.05, 1.05),
       fill=st.booleans())
def test_numba_greedy_equals_the_python_reference(seed, n, ties, frac, fill):
    rng = np.random.default_rng(seed)
    costs, dists = random_units(rng, n, ties)
    for c, d in zip(costs, dists):
        assert lower_hull(np.array(c), np.array(d)) == reference_hull(c, d)
    lo, hi = sum(min(c) for c in costs), sum(max(c) for c in costs)
    budget = lo + frac * (hi - lo)
    expected = reference_greedy(costs, dists, budget, fill)
    if expected is None:
        with pytest.raises(Exception, match="below the cheapest"):
            greedy_knapsack(costs, dists, budget, fill)
    else:
        assert greedy_knapsack(costs, dists, budget, fill) == expected


def layer_problem(rng, n_layers):
    layers = [(f"l{i}.weight", int(rng.integers(1, 7)), int(rng.integers(1, 30))) for i in range(n_layers)]
    dists = {n: np.sort(rng.uniform(0, 10, (r, len(WIDTHS))), axis=1)[:, ::-1].copy() for n, r, _ in layers}
    return layers, dists


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_layers=st.integers(1, 3), avg=st.floats(2.0, 8.0), variant=st.integers(0, 3))
def test_allocate_rows_equals_allocate(seed, n_layers, avg, variant):
    rng = np.random.default_rng(seed)
    layers, dists = layer_problem(rng, n_layers)
    cfg = {"avg_bits": avg, "rate": "code"}
    if variant == 1:
        cfg["allowed_bits"] = [2.0, 4.0, 8.0]
    elif variant == 2:
        cfg["pin_first"] = 4
    elif variant == 3:
        cfg["pin"] = {layers[-1][0]: 8}
    alloc = KnapsackAllocator(**cfg)
    groups = [AllocationGroup(f"{n}#{r}", c, {"bits": 2},
                              tuple(RateOption({"bits": b}, float(b * c), float(dists[n][r, j])) for j, b in enumerate(WIDTHS)))
              for n, rows, c in layers for r in range(rows)]
    try:
        expected = [s["bits"] for s in alloc.allocate(groups)]
    except Exception as exc:  # the same error either way
        with pytest.raises(type(exc), match=str(exc)[:30].replace("(", r"\(").replace(")", r"\)")):
            alloc.allocate_rows(layers, WIDTHS, dists)
        return
    got, failing = alloc.allocate_rows(layers, WIDTHS, dists)
    assert [int(b) for n, _, _ in layers for b in got[n]] == expected
    assert not any(f.any() for f in failing.values())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20), frac=st.floats(0.0, 1.0))
def test_a_certified_allocation_equals_the_one_with_every_distortion_known(seed, n, frac):
    """Unknown distortions (a suffix of each unit's options) count as 0; units that are not certified
    learn their next distortion (as BayesQ's on-demand designs do) until all are: the picks are then
    those of the true distortions."""
    rng = np.random.default_rng(seed)
    costs = np.array([[float(s * b) for b in WIDTHS] for s in rng.integers(1, 5, n)])
    # decreasing curves, from fast decay to saturation (clipping floors of wide posteriors)
    ratio = rng.uniform(0.15, 0.95, (n, 1))
    dists = rng.uniform(0.1, 10, (n, 1)) * (ratio ** np.arange(len(WIDTHS)) * rng.uniform(0.9, 1.1, (n, len(WIDTHS))))
    dists = np.minimum.accumulate(dists, axis=1)
    known = np.arange(len(WIDTHS))[None, :] < rng.integers(1, 3, (n, 1))
    n_opts = np.full(n, len(WIDTHS))
    lo, hi = costs[:, 0].sum(), costs[:, -1].sum()
    budget = lo + frac * (hi - lo)
    while True:
        optimistic = np.where(known, dists, 0.0)
        picks = np.array(greedy_knapsack(costs.tolist(), optimistic.tolist(), budget))
        ok = hull_certificate(costs, optimistic, n_opts, known, picks)
        if ok.all():
            break
        assert not (known.all(axis=1) & ~ok).any()
        known |= np.arange(len(WIDTHS))[None, :] == known.sum(axis=1, keepdims=True) * ~ok[:, None]
    assert picks.tolist() == greedy_knapsack(costs.tolist(), dists.tolist(), budget)


def posteriors(rng, shapes):
    out = {}
    for i, (r, c) in enumerate(shapes):
        mean = rng.standard_normal((r, c)) * rng.uniform(0.02, 0.2, (r, 1))
        mean[:, 0] *= 4
        std = np.abs(mean).mean() * np.exp(rng.uniform(-3, 0.5, (r, c)))
        out[f"l{i}.weight"] = GaussianPosterior(mean=mean, std=std)
    return out


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), avg=st.sampled_from([2.5, 3.0, 3.5, 4.0]))
def test_on_demand_designs_give_the_allocation_of_full_designs(seed, avg):
    rng = np.random.default_rng(seed)
    shapes = [(12, 24), (20, 40), (3, 40)]
    posts = posteriors(rng, shapes)
    layers = [LayerRef(g.removesuffix(".weight"), None, (r, c)) for g, (r, c) in zip(posts, shapes)]
    factors = {g: float(rng.uniform(0.5, 2)) for g in posts}
    alloc = KnapsackAllocator(avg_bits=avg, rate="code", allowed_bits=tuple(float(b) for b in WIDTHS))
    timings = {"codebooks": 0.0}
    lazy = _allocate_on_demand(GridQuantizer(), alloc, layers, posts, factors, WIDTHS, avg, timings)
    full_q = GridQuantizer()
    dists = {l.group: full_q.row_distortions(posts[l.group], WIDTHS) * factors[l.group] ** 2 for l in layers}
    full, _ = alloc.allocate_rows([(l.group, l.rows, l.cols) for l in layers], WIDTHS, dists)
    for g in posts:
        assert np.array_equal(lazy[g], full[g])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bits=st.sampled_from(WIDTHS))
def test_designing_some_rows_equals_designing_all(seed, bits):
    rng = np.random.default_rng(seed)
    post = posteriors(rng, [(9, 30)])["l0.weight"]
    q = GridQuantizer()
    rows = np.flatnonzero(rng.uniform(size=9) < 0.5)
    part = q.designs(post, bits, rows)
    full = design_grids(post.mean, post.std, bits)
    for name in ("step", "zero", "dist"):
        assert np.array_equal(getattr(part, name)[rows], getattr(full, name)[rows])
        assert np.isnan(np.delete(getattr(part, name), rows)).all()
    # asking for the rest completes the cached design
    done = q.designs(post, bits)
    for name in ("step", "zero", "dist"):
        assert np.array_equal(getattr(done, name), getattr(full, name))


def test_hermite_tables_of_the_normal_cdf_and_pdf():
    tab = one_sided_table()
    xs = np.concatenate([np.linspace(-12, 12, 200_001), np.random.default_rng(0).uniform(-11, 11, 20_000)])
    got = np.array([_phi_table(tab, x) for x in xs])
    want = np.array([(_cdf(x), _pdf(x)) for x in xs])
    assert np.max(np.abs(got - want)) < 2e-11


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bits=st.sampled_from(WIDTHS), frac=st.floats(0.5, 1.5))
def test_abandoned_grid_sums_exceed_their_bound_and_others_are_exact(seed, bits, frac):
    rng = np.random.default_rng(seed)
    post = posteriors(rng, [(1, 70)])["l0.weight"]
    m, s = np.asarray(post.mean[0], np.float64), np.asarray(post.std[0], np.float64)
    w = 1.0 / (s * s)
    count = 1 << bits
    step, zero = float(np.ptp(m)) / (count - 1) * rng.uniform(0.6, 1.2), float(m.min())
    tab = one_sided_table()
    full = grid_error_sum(tab, m, s, w, step, zero, count)
    bounded = grid_error_sum(tab, m, s, w, step, zero, count, full * frac)
    if np.isinf(bounded):
        assert full > full * frac
    else:
        assert bounded == full


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bits=st.integers(1, 8), uniform=st.booleans(), tie=st.booleans())
def test_nearest_level_equals_counting_the_midpoints_below(seed, bits, uniform, tie):
    rng = np.random.default_rng(seed)
    rows, cols, count = int(rng.integers(1, 12)), int(rng.integers(1, 40)), 1 << bits
    if uniform:
        levels = rng.normal(size=(rows, 1)) + rng.uniform(1e-3, 2, (rows, 1)) * np.arange(count)
    else:
        levels = np.sort(rng.normal(size=(rows, count)), axis=1)
    if tie and count > 2:
        levels[:, 2] = levels[:, 1]
    x = 3 * rng.normal(size=(rows, cols))
    x[:, 0] = 0.5 * (levels[:, 0] + levels[:, 1])  # exactly on a threshold: the lower level
    mids = 0.5 * (levels[:, 1:] + levels[:, :-1])
    assert np.array_equal(_nearest(x, levels), (x[:, :, None] > mids[:, None, :]).sum(-1))
