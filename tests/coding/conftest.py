"""Compile (or load from the numba cache) every coder loop once per session."""

from __future__ import annotations

import numpy as np
import pytest

from codecframe.coders import RangeCoder, RansCoder
from codecframe.probability import ParametricModel, ProbabilityModel


@pytest.fixture(scope="session", autouse=True)
def warm_jit() -> None:
    table = ProbabilityModel.from_counts([[3, 1], [1, 3]], precision=12)
    param = ParametricModel("gaussian", [0.0, 1.0], [1.0, 2.0], -2, 2, escape=True, precision=12)
    sym = np.array([0, 1], np.int32)
    idx = np.array([0, 1], np.int32)
    for coder in (RangeCoder(), RansCoder()):
        for model, indexes in ((table, idx), (table.row(0), None), (param, None), (param, idx)):
            coder.decode(coder.encode(sym, model, indexes), model, 2, indexes)
    param.information(sym)
