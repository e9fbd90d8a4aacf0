"""An independent implementation of specs/range-coder.md in plain Python integers and floats.

Written from the spec's text (not from the jitted loops) and checked against the golden vectors
and random cases, so the spec is precise enough to build a decoder from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecframe.coders import RangeCoder, RansCoder
from codecframe.probability import ParametricModel, ProbabilityModel
from codecframe.probability.grids import GRID_SHAPES, grid
from test_coding_golden import GOLDEN, build_model

M64 = (1 << 64) - 1


# ---------------------------------------------------------------------------- §2, §5 and §6: coded values
def table_value(cdf: list[list[int]], offsets: list[int], m: int, s: int) -> tuple[int, int]:
    k = s - offsets[m]
    return cdf[m][k], cdf[m][k + 1] - cdf[m][k]


def interpolated(family: str, x: float) -> int:
    """§6.3 G(x)."""
    bound, shift = GRID_SHAPES[family]
    g = [int(v) for v in grid(family)]
    if x <= -bound:
        return g[0]
    if x >= bound:
        return g[-1]
    u = math.floor((x + bound) * float(1 << (shift + 16)))
    i = u >> 16
    if i >= len(g) - 1:
        return g[-1]
    return g[i] + (((g[i + 1] - g[i]) * (u & 0xFFFF)) >> 16)


def edge(model: ParametricModel, m: int, j: int) -> int:
    """§6.4 F(j) for parameter pair m."""
    total, size = 1 << model.precision, model.size
    if j <= 0:
        return 0
    if j >= size:
        return total
    first = model.lo - 1 if model.escape else model.lo
    inv = 1.0 / max(float(model.scale[m]), 2.0**-40)
    x = (float(first + j) - 0.5 - float(model.mean[m])) * inv
    return j + ((interpolated(model.family, x) * (total - size)) >> 32)


def param_values(model: ParametricModel, m: int, s: int) -> list[tuple[int, int]]:
    """The coded values of symbol s (§6.1 and §6.5): its bin, then any escape payload."""
    p, first = model.precision, (model.lo - 1 if model.escape else model.lo)
    if model.lo <= s <= model.hi:
        j, payload = s - first, []
    else:
        j = 0 if s < model.lo else model.size - 1
        v = (model.lo - 1 - s if s < model.lo else s - model.hi - 1) + 1
        n = v.bit_length() - 1
        payload = [(n << (p - 6), 1 << (p - 6))]
        rest, left = v - (1 << n), n
        while left > 0:
            w = min(8, left)
            left -= w
            payload.append((((rest >> left) & ((1 << w) - 1)) << (p - w), 1 << (p - w)))
    return [(edge(model, m, j), edge(model, m, j + 1) - edge(model, m, j))] + payload


def values_of(model, symbols: list[int], indexes: list[int] | None) -> list[tuple[int, int]]:
    out = []
    if isinstance(model, ProbabilityModel):
        cdf, offsets = model.cdf.astype(np.int64).tolist(), model.offsets.tolist()
        for i, s in enumerate(symbols):
            out.append(table_value(cdf, offsets, 0 if indexes is None else indexes[i], s))
    else:
        for i, s in enumerate(symbols):
            out += param_values(model, i if indexes is None else indexes[i], s)
    return out


# ---------------------------------------------------------------------------- §3 range coder
def final_point(low: int, rng: int) -> int:
    """§3.3: the least multiple of 2^k in [low, low + rng) for the largest k in 64..32 (may be 2^64)."""
    for k in range(64, 31, -1):
        v = -(-low // (1 << k)) << k
        if v < low + rng:
            return v
    raise AssertionError("unreachable")


def range_encode(values: list[tuple[int, int]], p: int) -> bytes:
    low, rng, body = 0, M64, []

    def carry() -> None:
        i = len(body) - 1
        while body[i] == 0xFFFFFFFF:
            body[i] = 0
            i -= 1
        body[i] += 1

    for start, freq in values:
        r = rng >> p
        low += r * start
        if low > M64:
            carry()
            low &= M64
        rng = r * freq
        if rng < 1 << 32:
            body.append(low >> 32)
            low = (low << 32) & M64
            rng <<= 32
    v = final_point(low, rng)
    if v > M64:
        carry()
        v &= M64
    return b"".join(w.to_bytes(4, "big") for w in body) + v.to_bytes(8, "big").rstrip(b"\0")


def word(data: bytes, i: int) -> int:
    return int.from_bytes(data[4 * i : 4 * i + 4].ljust(4, b"\0"), "big")


def range_decode_values(data: bytes, p: int, find) -> list[int]:
    """``find(i, slot) -> (symbol, [(start, freq), ...], more)`` resolves one coded value at a time."""
    point, wi, rng = (word(data, 0) << 32) | word(data, 1), 2, M64

    def take(slot_fn):
        nonlocal point, wi, rng
        r = rng >> p
        slot = point // r
        if slot >= 1 << p:
            raise ValueError("invalid code point")
        start, freq, result = slot_fn(slot)
        point -= r * start
        rng = r * freq
        if rng < 1 << 32:
            point = (point << 32) | word(data, wi)
            wi += 1
            rng <<= 32
        return result

    out = find(take)
    body = 4 * (wi - 2)
    window = int.from_bytes(data[body : body + 8].ljust(8, b"\0"), "big")
    v = final_point((window - point) & M64, rng) & M64
    if v != window or len(data) != body + len(v.to_bytes(8, "big").rstrip(b"\0")):
        raise ValueError("stream does not end as its encoder would end it")
    return out


# ---------------------------------------------------------------------------- §4 rANS
def rans_encode(values: list[tuple[int, int]], p: int) -> bytes:
    x, emitted = 1 << 31, []
    for start, freq in reversed(values):
        if x >= freq << (63 - p):
            emitted.append(x & 0xFFFFFFFF)
            x >>= 32
        x = ((x // freq) << p) + (x % freq) + start
    return x.to_bytes(8, "big") + b"".join(w.to_bytes(4, "big") for w in reversed(emitted))


def rans_decode_values(data: bytes, p: int, find) -> list[int]:
    x, wi = (word(data, 0) << 32) | word(data, 1), 2
    if not (1 << 31) <= x < 1 << 63:
        raise ValueError("invalid state")

    def take(slot_fn):
        nonlocal x, wi
        slot = x & ((1 << p) - 1)
        start, freq, result = slot_fn(slot)
        x = freq * (x >> p) + slot - start
        if x < 1 << 31:
            x = (x << 32) | word(data, wi)
            wi += 1
        return result

    out = find(take)
    if x != 1 << 31 or len(data) % 4 or wi != len(data) // 4:
        raise ValueError("stream does not end as its encoder would end it")
    return out


# ---------------------------------------------------------------------------- symbol search (§2, §6.5)
def finder(model, count: int, indexes: list[int] | None):
    def find(take) -> list[int]:
        out = []
        for i in range(count):
            m = (0 if isinstance(model, ProbabilityModel) else i) if indexes is None else indexes[i]
            if isinstance(model, ProbabilityModel):
                row = model.cdf[m].astype(np.int64).tolist()

                def pick(slot, row=row, m=m):
                    k = max(k for k in range(int(model.sizes[m])) if row[k] <= slot)
                    return row[k], row[k + 1] - row[k], k + int(model.offsets[m])

                out.append(take(pick))
                continue
            f = [edge(model, m, j) for j in range(model.size + 1)]

            def pick(slot, f=f):
                j = max(j for j in range(model.size) if f[j] <= slot)
                return f[j], f[j + 1] - f[j], j

            j = take(pick)
            first = model.lo - 1 if model.escape else model.lo
            if model.escape and j in (0, model.size - 1):
                p = model.precision

                def uniform(w):
                    return lambda slot: ((slot >> (p - w)) << (p - w), 1 << (p - w), slot >> (p - w))

                n = take(uniform(6))
                if n > 31:
                    raise ValueError("escape length")
                rest, left = 0, n
                while left > 0:
                    w = min(8, left)
                    left -= w
                    rest = (rest << w) | take(uniform(w))
                d = (1 << n) + rest - 1
                out.append(model.lo - 1 - d if j == 0 else model.hi + 1 + d)
            else:
                out.append(first + j)
        return out

    return find


def reference(coder_id: str, model, symbols: list[int], indexes: list[int] | None) -> bytes:
    values = values_of(model, symbols, indexes)
    data = (range_encode if coder_id == "range" else rans_encode)(values, model.precision)
    decode = range_decode_values if coder_id == "range" else rans_decode_values
    assert decode(data, model.precision, finder(model, len(symbols), indexes)) == symbols
    return data


@pytest.mark.nojit
@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_reference_reproduces_golden_vectors(case):
    model = build_model(case["model"])
    for coder_id in ("range", "rans"):
        assert reference(coder_id, model, case["symbols"], case["indexes"]).hex() == case[coder_id]


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), precision=st.integers(12, 24), kind=st.sampled_from(["table", "parametric"]))
def test_reference_matches_coders(seed, precision, kind):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    if kind == "table":
        model = ProbabilityModel.from_counts(rng.geometric(0.2, (2, 12)) * (rng.random((2, 12)) < 0.7),
                                             precision=precision, offsets=rng.integers(-9, 9, 2))
        indexes = rng.integers(0, 2, n).astype(np.int32)
        symbols = (model.offsets[indexes] + rng.integers(0, 12, n)).astype(np.int32)
    else:
        family = ["gaussian", "laplace", "logistic"][seed % 3]
        model = ParametricModel(family, rng.uniform(-9, 9, n), rng.uniform(0, 6, n), -8, 8, escape=True,
                                precision=precision)
        indexes = None
        symbols = np.rint(model.mean + model.scale * rng.standard_normal(n)).astype(np.int32)
        symbols[::7] = rng.integers(-(1 << 31), (1 << 31) - 1, symbols[::7].size)
    for coder in (RangeCoder(), RansCoder()):
        idx = None if indexes is None else indexes.tolist()
        expect = reference(coder.id, model, symbols.tolist(), idx)
        assert coder.encode(symbols, model, indexes) == expect
