"""The error class of every rule in specs/bitstream.md §4.1, checked against the reference reader
(header edits through ``codecframe.conformance.surgery``, checksums kept valid)."""

import numpy as np
import pytest

from codecframe import Pipeline, decode, errors
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.conformance import surgery


pytestmark = pytest.mark.nojit


@pytest.fixture(scope="module")
def base():
    groups = {"w": GaussianPosterior.example(np.random.default_rng(0), (4, 3)),
              "b": GaussianPosterior.example(np.random.default_rng(1), (3,))}
    return Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.5}}).encode(groups, extras={"e": np.arange(4.0)})


def _set(path, value):
    def edit(h):
        node = h
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _drop(path):
    def edit(h):
        node = h
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


RULES = {
    "unknown top-level key": (_set(["future"], 1), "VersionError"),
    "pipeline not a map": (_set(["pipeline"], []), "FormatError"),
    "pipeline role missing": (_drop(["pipeline", "allocator"]), "FormatError"),
    "pipeline role not a map": (_set(["pipeline", "quantizer"], "uniform"), "FormatError"),
    "groups not an array": (_set(["groups"], {}), "FormatError"),
    "extras not an array": (_set(["extras"], {}), "FormatError"),
    "meta not a map": (_set(["meta"], [1]), "FormatError"),
    "provenance not a map": (_set(["provenance"], "x"), "FormatError"),
    "group record extra key": (_set(["groups", 0, "note"], 1), "FormatError"),
    "group name not a string": (_set(["groups", 0, "name"], 7), "FormatError"),
    "group name repeated": (_set(["groups", 1, "name"], "w"), "FormatError"),
    "shape not an array": (_set(["groups", 0, "shape"], 12), "FormatError"),
    "shape with 33 dims": (_set(["groups", 0, "shape"], [1] * 33), "FormatError"),
    "shape entry negative": (_set(["groups", 0, "shape"], [-4, -3]), "FormatError"),
    "shape over 2^28 elements": (_set(["groups", 0, "shape"], [1 << 15, 1 << 14]), "LimitError"),
    "dtype unknown": (_set(["groups", 0, "dtype"], "complex128"), "FormatError"),
    "setting not a map": (_set(["groups", 0, "setting"], [0.5]), "FormatError"),
    "side not a map": (_set(["groups", 0, "side"], None), "FormatError"),
    "count not an int": (_set(["groups", 0, "count"], 12.0), "FormatError"),
    "count above 2^28": (_set(["groups", 0, "count"], (1 << 28) + 1), "FormatError"),
    "total above 2^28": (lambda h: (h["groups"][0].update(shape=[1 << 14, 1 << 14], count=1 << 28),
                                    h["groups"][1].update(shape=[1], count=1)), "LimitError"),
    "extra record missing dtype": (_drop(["extras", 0, "dtype"]), "FormatError"),
    "extra shape over 2^28": (_set(["extras", 0, "shape"], [1 << 29]), "FormatError"),
    "count differs from the quantizer's": (_set(["groups", 1, "count"], 2), "FormatError"),
    "extra stream size differs": (_set(["extras", 0, "shape"], [5]), "FormatError"),
}


@pytest.mark.parametrize("rule", RULES)
def test_rule_gives_its_class(base, rule):
    edit, expected = RULES[rule]
    data = surgery.rewrite_header(base, edit)
    with pytest.raises(getattr(errors, expected)) as info:
        decode(data)
    assert type(info.value).__name__ == expected, f"{rule}: got {type(info.value).__name__}: {info.value}"


def test_streams_count_mismatch_and_malformed_provenance(base):
    with pytest.raises(errors.FormatError, match="streams"):
        decode(surgery.rewrite_header(base, lambda h: h["extras"].pop()))
    ok = surgery.rewrite_header(base, _set(["provenance", "quantizer"], "not a map"))
    assert np.array_equal(decode(ok).arrays["w"], decode(base).arrays["w"])  # informative only
