"""The same input gives the same bytes with the JIT on and with NUMBA_DISABLE_JIT=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from codecframe.coders import RangeCoder, RansCoder
from codecframe.probability import ParametricModel, ProbabilityModel
from test_coding_golden import GOLDEN, encode_case

SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {here!r})
from test_coding_jit_parity import random_streams
print(json.dumps(random_streams()))
"""


def random_streams() -> list[str]:
    """Hex streams of the golden cases and of seeded random ones (tables, multi-row tables, each family
    with escapes), for both coders."""
    rng = np.random.default_rng(20240607)
    out = [json.dumps(encode_case(case)) for case in GOLDEN]
    for precision in (12, 17, 24):
        table = ProbabilityModel.from_counts(rng.geometric(0.05, (3, 40)), precision=precision, offsets=[-20, 0, 5])
        idx = rng.integers(0, 3, 400).astype(np.int32)
        sym = (table.offsets[idx] + rng.integers(0, 40, 400)).astype(np.int32)
        pmf = ProbabilityModel.from_pmf(rng.random(300) ** 4, precision=precision)
        psym = rng.integers(0, 300, 400).astype(np.int32)
        cases = [(table, sym, idx), (pmf, psym, None)]
        for family in ("gaussian", "laplace", "logistic"):
            mean, scale = rng.uniform(-30, 30, 150), rng.uniform(0, 12, 150)
            model = ParametricModel(family, mean, scale, -32, 32, escape=True, precision=precision)
            s = np.rint(mean + scale * rng.standard_normal(150)).astype(np.int32)
            s[::37] = rng.integers(-(1 << 31), (1 << 31) - 1, s[::37].size)
            cases.append((model, s, None))
        for coder in (RangeCoder(), RansCoder()):
            out += [coder.encode(s, m, i).hex() for m, s, i in cases]
    out += [coder.encode(np.array([1, 2], np.int32), ProbabilityModel.from_counts(np.arange(5), precision=13)).hex()
            for coder in (RangeCoder(), RansCoder())]
    return out


def test_same_bytes_without_jit():
    here = str(Path(__file__).parent)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", SCRIPT.format(here=here)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == random_streams()
