"""Golden byte vectors (golden_vectors.json): any change to the stream format fails here.

The same cases are the worked examples of specs/range-coder.md; ``test_coding_jit_parity`` reruns them
with NUMBA_DISABLE_JIT=1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from codecframe.coders import RangeCoder, RansCoder
from codecframe.probability import ParametricModel, ProbabilityModel

GOLDEN = json.loads((Path(__file__).with_name("golden_vectors.json")).read_text())["cases"]


def build_model(spec: dict[str, Any]) -> ProbabilityModel | ParametricModel:
    kind = spec["kind"]
    if kind == "counts":
        sizes = None if "sizes" not in spec else np.array(spec["sizes"])
        return ProbabilityModel.from_counts(np.array(spec["counts"]), spec["precision"], np.array(spec["offsets"]), sizes)
    if kind == "pmf":
        return ProbabilityModel.from_pmf(np.array(spec["pmf"]), spec["precision"], spec["offsets"])
    return ParametricModel(spec["family"], spec["mean"], spec["scale"], spec["lo"], spec["hi"], spec["escape"],
                           spec["precision"])


def encode_case(case: dict[str, Any]) -> dict[str, str]:
    """Hex of the case's stream for each coder, after checking that it decodes back."""
    model = build_model(case["model"])
    sym = np.array(case["symbols"], np.int32)
    idx = None if case["indexes"] is None else np.array(case["indexes"], np.int32)
    out = {}
    for coder in (RangeCoder(), RansCoder()):
        data = coder.encode(sym, model, idx)
        assert np.array_equal(coder.decode(data, model, sym.size, idx), sym)
        out[coder.id] = data.hex()
    return out


@pytest.mark.nojit
@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_golden_vector(case):
    assert encode_case(case) == {"range": case["range"], "rans": case["rans"]}
    if "freqs" in case:
        assert build_model(case["model"]).freqs.tolist() == case["freqs"]
