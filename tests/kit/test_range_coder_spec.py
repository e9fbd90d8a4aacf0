"""Claims of specs/range-coder.md §2.1, §3.8 and §9 checked against the reference coders and the golden JSON."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from codecframe.coders import RangeCoder, RansCoder
from codecframe.errors import ConfigError, DecodeError, LimitError, VersionError
from codecframe.probability import ParametricModel, ProbabilityModel

pytestmark = pytest.mark.nojit  # the limit check and the stream rejection must agree with and without the JIT

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "specs" / "range-coder.md").read_text()
GOLDEN = {c["name"]: c for c in json.loads((ROOT / "tests" / "coding" / "golden_vectors.json").read_text())["cases"]}


@pytest.mark.parametrize("cls", [RangeCoder, RansCoder])
def test_config_keys_defaults_and_ranges(cls):
    assert cls.from_config({"id": cls.id}).get_config() == {"id": cls.id, "version": 1, "precision": 16}
    for p in (12, 24):
        assert cls.from_config({"id": cls.id, "precision": p}).precision == p
    for bad in (11, 25, 16.0, True, "16", None):
        with pytest.raises(ConfigError):
            cls.from_config({"id": cls.id, "precision": bad})
    with pytest.raises(ConfigError):
        cls.from_config({"id": cls.id, "precision": 16, "speed": 1})
    with pytest.raises(VersionError):
        cls.from_config({"id": cls.id, "version": 2})


def _bound_count(n: int, f: float) -> int:
    """The largest count §3.8 step 3 lets through for a stream of n bytes and per-symbol floor f."""
    c = int((8 * n + 32) / (f * (1 - 1e-6)))
    while c * f > (8 * n + 32) + 1e-6 * c * f:
        c -= 1
    while (c + 1) * f <= (8 * n + 32) + 1e-6 * (c + 1) * f:
        c += 1
    return c


@pytest.mark.parametrize("cls, delta", [(RangeCoder, 0.0), (RansCoder, 0.012)])
@pytest.mark.parametrize("p", [12, 16, 24])
def test_count_bound_arithmetic(cls, delta, p):
    # two rows: freq_max is taken over every row (row 1's largest frequency), whatever the indexes
    model = ProbabilityModel.from_counts(np.array([[1, 1, 1, 1], [5, 1, 1, 1]]), precision=p)
    freq_max = int(model.freqs.max())
    f = p - math.log2(freq_max) - delta
    data = bytes(range(40))
    c = _bound_count(len(data), f)
    coder = cls(precision=p)
    with pytest.raises(LimitError):
        coder.decode(data, model, c + 1, np.zeros(c + 1, np.int32))
    with pytest.raises(DecodeError):  # within the bound: decoded, and rejected as a stream
        coder.decode(data, model, c, np.zeros(c, np.int32))


def test_no_bound_for_a_certain_symbol():
    model = ProbabilityModel.from_counts(np.array([1]), precision=16)
    assert RangeCoder().decode(b"", model, 10_000).tolist() == [0] * 10_000


def test_parametric_bound_uses_t_minus_size_plus_one():
    model = ParametricModel("gaussian", np.zeros(1), np.ones(1), -2, 2, False, 12)
    f = 12 - math.log2(4096 - 5 + 1)
    c = _bound_count(4, f)
    with pytest.raises(LimitError):
        RangeCoder(precision=12).decode(b"\x80\0\0\0", model, c + 1, np.zeros(c + 1, np.int32))


def _numbers(text: str) -> list[float]:
    return [float(v.replace("−", "-")) for v in re.findall(r"[−-]?\d+(?:\.\d+)?", text)]


@pytest.mark.parametrize("name", ["gaussian-escape-p16", "laplace-indexes-p12", "logistic-p20"])
def test_golden_parametric_cases_match_the_table(name):
    row = next(line for line in SPEC.splitlines() if line.startswith(f"| {name} |"))
    model = GOLDEN[name]["model"]
    cell = row.split("|")[2]
    assert _numbers(re.search(r"mean \(([^)]*)\)", cell)[1]) == model["mean"]
    assert _numbers(re.search(r"scale \(([^)]*)\)", cell)[1]) == model["scale"]
    lo, hi = _numbers(re.search(r"support ([−\d]+\.\.[−\d]+)", cell)[1].replace("..", " "))
    assert (lo, hi) == (model["lo"], model["hi"])
    assert f"p={model['precision']}" in cell and ("no escape" in cell) == (not model["escape"])
    symbols = _numbers(row.split("|")[3].split("with")[0])
    assert symbols == GOLDEN[name]["symbols"]
    if GOLDEN[name]["indexes"] is not None:
        assert _numbers(row.split("|")[3].split("indexes")[1]) == GOLDEN[name]["indexes"]


def test_golden_two_row_case_matches_the_table():
    row = next(line for line in SPEC.splitlines() if line.startswith("| two-rows-with-indexes-p16 |"))
    case = GOLDEN["two-rows-with-indexes-p16"]
    counts = [[int(v) for v in _numbers(g)] for g in re.findall(r"\(([\d, ]+)\)", row.split("|")[2])[:2]]
    assert counts == [c[:s] for c, s in zip(case["model"]["counts"], case["model"]["sizes"])]
    assert _numbers(row.split("|")[3].split("with")[0]) == case["symbols"]
    assert _numbers(row.split("|")[3].split("indexes")[1]) == case["indexes"]
