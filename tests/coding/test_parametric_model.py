"""ParametricModel: validation, the integer CDF of §6.3, the committed grids of §6.2."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecframe import canonical
from codecframe.errors import EncodeError, FormatError, InputError
from codecframe.probability import ParametricModel
from codecframe.probability.grids import FAMILIES, GRID_SHAPES, exact_grid, grid
from codecframe.probability.kernels import SCALE_FLOOR, param_edge

#: sha256 of each grid as little-endian int64 (specs/range-coder.md §6.2).
GRID_SHA256 = {
    "gaussian": "d4e6583386498bd71c64eab997edc562e5fd413bf47ba2d61ce48075d3d74984",
    "laplace": "296d73e4429b6ad43053398426c822da70e831a13f96ad16cb8153ec6ec33cb9",
    "logistic": "55a085436184a756ba4fbf8e50cb836c3e3954820bc50aa63b88e3ea7dd256a7",
}


def edges(model: ParametricModel, m: int) -> np.ndarray:
    """``F(0..size)`` of parameter pair ``m``, as the coders evaluate it."""
    mean, scale, lo, hi, escape, precision, g, bound, mul = model.kernel_args()
    first = lo - 1 if escape else lo
    size, total = model.size, 1 << precision
    inv = 1.0 / max(scale[m], SCALE_FLOOR)
    return np.array([param_edge(j, size, total - size, total, float(first), mean[m], inv, g, bound, mul)
                     for j in range(size + 1)])


@pytest.mark.parametrize("family", FAMILIES)
def test_grids_match_spec_hash_and_definition(family):
    values = grid(family)
    bound, shift = GRID_SHAPES[family]
    assert values.shape == (2 * bound * (1 << shift) + 1,)
    assert hashlib.sha256(values.astype("<i8").tobytes()).hexdigest() == GRID_SHA256[family]
    assert values[0] == 0 and values[-1] == 1 << 32 and values[values.size // 2] == 1 << 31
    assert np.all(np.diff(values) >= 0)
    picks = [1, 17, values.size // 3, values.size // 2 + 5, values.size - 2]
    assert exact_grid(family, picks) == values[picks].tolist()


@settings(deadline=None, max_examples=200)
@given(
    family=st.sampled_from(FAMILIES),
    mean=st.one_of(st.floats(-100, 100), st.floats(-1e300, 1e300), st.sampled_from([0.0, 0.5, -0.5, 2.5])),
    scale=st.one_of(st.floats(0, 100), st.floats(0, 1e-6), st.floats(1e6, 1e300), st.just(0.0), st.just(5e-324)),
    lo=st.integers(-300, 300),
    width=st.integers(0, 300),
    escape=st.booleans(),
    precision=st.integers(12, 24),
)
def test_every_bin_has_a_frequency(family, mean, scale, lo, width, escape, precision):
    model = ParametricModel(family, [mean], [scale], lo, lo + width, escape, precision)
    f = edges(model, 0)
    assert f[0] == 0 and f[-1] == 1 << precision
    assert np.all(np.diff(f) >= 1)


@pytest.mark.nojit
def test_cdf_follows_the_float_model():
    model = ParametricModel("gaussian", [0.3], [2.0], -20, 20, precision=24)
    f = edges(model, 0)
    k = np.arange(-20, 21)
    phi = np.array([0.5 * math.erfc(-(v - 0.3) / (2.0 * math.sqrt(2))) for v in k + 0.5])
    ideal = np.diff(np.concatenate(([0.0], phi[:-1], [1.0])))
    assert np.allclose(np.diff(f) / 2.0**24, ideal, atol=1e-6)
    laplace = edges(ParametricModel("laplace", [0.0], [1.0], -5, 5, precision=20), 0)
    # edge j = 5 is x = -0.5, a grid point: G = round(0.5 e^-0.5 2^32), F = 5 + G (2^20 - 11) >> 32
    assert laplace[5] == 5 + ((round(0.5 * math.exp(-0.5) * 2**32) * (2**20 - 11)) >> 32)
    assert (laplace[6] - laplace[5]) / 2**20 == pytest.approx(1 - math.exp(-0.5), abs=1e-5)


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**32 - 1), family=st.sampled_from(FAMILIES), escape=st.booleans())
def test_information_close_to_float_ideal(seed, family, escape):
    """At 24 bits the integer model costs at most 0.01 bits/symbol more than the float model here."""
    rng = np.random.default_rng(seed)
    n = 300
    mean, scale = rng.uniform(-10, 10, n), rng.uniform(0.3, 8, n)
    model = ParametricModel(family, mean, scale, -64, 64, escape, 24)
    sym = np.clip(np.rint(mean + scale * rng.standard_normal(n)), -64, 64).astype(np.int32)
    f = np.array([edges(model, i)[sym[i] - (model.lo - 1 if escape else model.lo)
                                  + np.array([0, 1])] for i in range(n)])
    assert model.information(sym) == pytest.approx(float(np.sum(24 - np.log2(f[:, 1] - f[:, 0]))))
    z = lambda v: (v - mean) / scale  # noqa: E731
    if family == "gaussian":
        cdf = lambda v: np.array([0.5 * math.erfc(-x / math.sqrt(2)) for x in z(v)])  # noqa: E731
    elif family == "laplace":
        cdf = lambda v: np.where(z(v) < 0, 0.5 * np.exp(np.minimum(z(v), 0)), 1 - 0.5 * np.exp(-np.maximum(z(v), 0)))  # noqa: E731
    else:
        cdf = lambda v: 1 / (1 + np.exp(-z(v)))  # noqa: E731
    ideal = -np.sum(np.log2(np.maximum(cdf(sym + 0.5) - cdf(sym - 0.5), 1e-300)))
    assert model.information(sym) <= ideal + 0.01 * n


@pytest.mark.nojit
def test_information_escapes_and_indexes():
    model = ParametricModel("gaussian", [0.0, 4.0], [1.0, 1.0], -2, 2, escape=True, precision=16)
    inside = model.information(np.array([0], np.int32), np.array([0], np.int32))
    far = model.information(np.array([1000], np.int32), np.array([0], np.int32))
    nearest = model.information(np.array([3], np.int32), np.array([0], np.int32))  # distance 0: n = 0
    # same escape bin and 6-bit length; 1000 has distance 997, so 998 = 2^9 + 486 adds 9 raw bits
    assert far > inside and far - nearest == pytest.approx(9.0)
    with pytest.raises(EncodeError, match="position 1"):
        ParametricModel("gaussian", [0.0, 0.0], [1.0, 1.0], -2, 2).information(np.array([0, 3], np.int32))
    with pytest.raises(InputError, match=r"indexes\[1\] = 5"):
        model.information(np.array([0, 0], np.int32), np.array([0, 5]))


@pytest.mark.nojit
@pytest.mark.parametrize(
    "args, message",
    [
        (("cauchy", [0.0], [1.0], 0, 1), "family"),
        (("gaussian", [0.0], [1.0, 2.0], 0, 1), "shape"),
        (("gaussian", [np.nan], [1.0], 0, 1), r"mean\[0\] is not finite"),
        (("gaussian", [0.0], [-1.0], 0, 1), r"scale\[0\] is negative"),
        (("gaussian", [0.0], [np.inf], 0, 1), "not finite"),
        (("gaussian", [[0.0]], [[1.0]], 0, 1), "1-D"),
        (("gaussian", [0.0], [1.0], 2, 1), "empty"),
        (("gaussian", [0.0], [1.0], 0, 2**31), "int32"),
        (("gaussian", [0.0], [1.0], 0, 1.5), "integer"),
        (("gaussian", [0.0], [1.0], 0, 5000, False, 12), "exceeds the limit"),
        (("gaussian", [0.0], [1.0], 0, 1, "yes"), "boolean"),
        (("gaussian", [0.0], [1.0], 0, 1, False, 30), "12..24"),
    ],
)
def test_validation(args, message):
    with pytest.raises(InputError, match=message):
        ParametricModel(*args)


def test_side_round_trip_and_errors():
    model = ParametricModel("laplace", [0.5, -2.0], [1.0, 0.0], -8, 8, escape=True, precision=18)
    back = ParametricModel.from_side(canonical.unpack(canonical.pack(model.to_side())))
    assert back == model and back.mean.flags.writeable is False
    side = model.to_side()
    side["scale"] = side["scale"].astype(np.float32)
    with pytest.raises(FormatError, match="float64"):
        ParametricModel.from_side(side)
    side = model.to_side()
    side["lo"] = 9
    with pytest.raises(FormatError, match="empty"):
        ParametricModel.from_side(side)
    with pytest.raises(FormatError, match="keys"):
        ParametricModel.from_side({"family": "laplace"})
    with pytest.raises(AttributeError):
        model.lo = 3
