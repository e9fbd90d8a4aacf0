"""ProbabilityModel: validation, the spec's apportionment, side info."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from codecframe import canonical
from codecframe.errors import EncodeError, FormatError, InputError
from codecframe.probability import ProbabilityModel


def reference_apportion(counts: list[int], precision: int) -> list[int]:
    """specs/range-coder.md §5.1, literally: one unit at a time to the highest c/(2f+1)."""
    c = list(counts) if sum(counts) else [1] * len(counts)
    f = [1] * len(c)
    for _ in range((1 << precision) - len(c)):
        best = 0
        for i in range(1, len(c)):
            if c[i] * (2 * f[best] + 1) > c[best] * (2 * f[i] + 1):
                best = i
        f[best] += 1
    return f


count_rows = st.integers(1, 40).flatmap(
    lambda a: st.lists(st.one_of(st.integers(0, 3), st.integers(0, 10**6), st.just(0)), min_size=a, max_size=a)
)


@pytest.mark.nojit
@settings(deadline=None, max_examples=60)
@given(counts=count_rows)
def test_from_counts_matches_reference_greedy(counts):
    model = ProbabilityModel.from_counts(np.array(counts), precision=12)
    assert model.freqs[0].tolist() == reference_apportion(counts, 12)


@settings(deadline=None, max_examples=40)
@given(counts=count_rows, precision=st.integers(12, 24))
def test_from_counts_invariants(counts, precision):
    model = ProbabilityModel.from_counts(np.array(counts), precision=precision)
    f = model.freqs[0]
    assert f.min() >= 1 and f.sum() == 1 << precision
    assert model.cdf.dtype == np.uint32 and model.cdf[0, 0] == 0
    total = sum(counts)
    if total:  # each frequency is within the divisor method's bound of its exact share
        share = np.array(counts, np.float64) * (1 << precision) / total
        assert np.all(f <= np.maximum(1.0, share + 0.5) + len(counts))


@pytest.mark.nojit
def test_known_tables():
    assert ProbabilityModel.from_counts([5, 0, 3], precision=12).freqs.tolist() == [[2559, 1, 1536]]
    assert ProbabilityModel.from_counts([0, 0], precision=12).freqs.tolist() == [[2048, 2048]]
    assert ProbabilityModel.from_pmf([0.5, 0.25, 0.25], precision=12).freqs.tolist() == [[2048, 1024, 1024]]
    one = ProbabilityModel.from_counts([7], precision=24, offsets=-3)
    assert one.cdf.tolist() == [[0, 1 << 24]] and one.offsets.tolist() == [-3]


def test_pmf_rows_sizes_and_offsets():
    rng = np.random.default_rng(1)
    pmf = rng.random((4, 9))
    model = ProbabilityModel.from_pmf(pmf, precision=14, offsets=[-4, 0, 3, 100], sizes=[9, 1, 5, 2])
    assert model.sizes.tolist() == [9, 1, 5, 2]
    for m, size in enumerate(model.sizes):
        assert model.freqs[m, :size].min() >= 1 and model.freqs[m, size:].sum() == 0
        assert np.all(model.cdf[m, size:] == 1 << 14)
    # rows are independent: row 2 equals the same PMF built alone
    alone = ProbabilityModel.from_pmf(pmf[2, :5], precision=14, offsets=3)
    assert np.array_equal(alone.cdf[0], model.cdf[2, :6])
    assert model.row(2) == alone


def test_pmf_close_to_float_model():
    p = np.exp(-np.arange(256) / 20.0)
    p /= p.sum()
    model = ProbabilityModel.from_pmf(p, precision=16)
    q = model.freqs[0] / 65536.0
    kl = float(np.sum(p * np.log2(p / q)))
    entropy = float(-np.sum(p * np.log2(p)))
    assert kl / entropy < 1e-3


def test_information_matches_frequencies():
    model = ProbabilityModel.from_counts([[1, 2, 5], [3, 3, 2]], precision=12, offsets=[10, -1])
    symbols = np.array([10, 12, 1, -1], np.int32)
    indexes = np.array([0, 0, 1, 1], np.int32)
    f = model.freqs
    expect = sum(12 - np.log2(x) for x in (f[0, 0], f[0, 2], f[1, 2], f[1, 0]))
    assert model.information(symbols, indexes) == pytest.approx(expect)
    assert model.information(np.zeros(0, np.int32), np.zeros(0, np.int32)) == 0.0
    with pytest.raises(EncodeError, match="position 1"):
        model.information(np.array([10, 13], np.int32), np.array([0, 0], np.int32))
    with pytest.raises(InputError, match="needs per-symbol indexes"):
        model.information(symbols)
    with pytest.raises(InputError, match=r"indexes\[2\] = 2"):
        model.information(symbols, np.array([0, 0, 2, 1]))


@pytest.mark.nojit
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cdf=[0, 5, 4000], precision=12), "must equal 2"),
        (dict(cdf=[0, 0, 4096], precision=12), "increase strictly"),
        (dict(cdf=[1, 4096], precision=12), r"cdf\[m, 0\] must be 0"),
        (dict(cdf=[0, 4096], precision=11), "12..24"),
        (dict(cdf=[0, 4096], precision=25), "12..24"),
        (dict(cdf=[0.0, 4096.0], precision=12), "integer array"),
        (dict(cdf=[[0, 4096, 4000]], sizes=1, precision=12), "past a model's size"),
        (dict(cdf=[0, 4096], offsets=-(2**31) - 1, precision=12), "int32"),
        (dict(cdf=[0, 1, 4096], offsets=2**31 - 1, precision=12), "int32"),
    ],
)
def test_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        ProbabilityModel(**kwargs)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ProbabilityModel.from_counts([1, -1]), "non-negative"),
        (lambda: ProbabilityModel.from_counts([2**37, 0]), "sum to at most"),
        (lambda: ProbabilityModel.from_counts(np.ones(5000, np.int64), precision=12), "cannot give every symbol"),
        (lambda: ProbabilityModel.from_counts(np.ones(70000, np.int64), precision=20), "limit of 65536"),
        (lambda: ProbabilityModel.from_pmf([0.5, np.nan]), "finite"),
        (lambda: ProbabilityModel.from_pmf([0.0, 0.0]), "positive"),
        (lambda: ProbabilityModel.from_pmf([0.5, -0.1]), "non-negative"),
        (lambda: ProbabilityModel.from_pmf([1e308, 1e308]), "finite sum"),
    ],
)
def test_constructor_errors(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_immutable():
    model = ProbabilityModel.from_counts([1, 2, 3])
    with pytest.raises(AttributeError):
        model.precision = 12
    with pytest.raises(ValueError):
        model.cdf[0, 1] = 3


@settings(deadline=None, max_examples=30)
@given(
    counts=hnp.arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 30)), elements=st.integers(0, 1000)),
    precision=st.integers(12, 24),
)
def test_side_round_trip(counts, precision):
    model = ProbabilityModel.from_counts(counts, precision=precision, offsets=np.arange(counts.shape[0]) - 7)
    back = ProbabilityModel.from_side(canonical.unpack(canonical.pack(model.to_side())))
    assert back == model


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.pop("sizes"), "keys"),
        (lambda s: s.update(precision=30), "12..24"),
        (lambda s: s.update(freq_minus_1=s["freq_minus_1"].astype(np.uint32)), "uint16"),
        (lambda s: s.update(freq_minus_1=s["freq_minus_1"][:-1]), "length"),
        (lambda s: s.update(freq_minus_1=s["freq_minus_1"] + np.uint16(1)), "sum to"),
        (lambda s: s.update(sizes=np.array([0], np.int32)), "size is out of range"),
    ],
)
def test_side_errors(mutate, message):
    side = ProbabilityModel.from_counts([3, 1, 4]).to_side()
    mutate(side)
    with pytest.raises(FormatError, match=message):
        ProbabilityModel.from_side(side)
