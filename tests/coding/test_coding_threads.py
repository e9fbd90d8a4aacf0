"""The coders' numba loops release the GIL, and coding from many threads at once gives the serial bytes."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from codecframe.coders import range_kernels, rans_kernels
from codecframe.probability import ParametricModel, ProbabilityModel, apportion, kernels
from coding_cases import CODERS

# the compiled loops that Python calls directly (inlined helpers run inside them)
ENTRY_KERNELS = [
    *(getattr(module, name) for module in (range_kernels, rans_kernels)
      for name in ("encode_table", "decode_table", "encode_param", "decode_param")),
    kernels.build_lut, kernels.param_information, apportion.apportion_rows, apportion.pmf_to_counts,
]


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="plain Python functions without the JIT")
@pytest.mark.parametrize("kernel", ENTRY_KERNELS, ids=lambda k: f"{k.__module__.rsplit('.', 1)[-1]}.{k.__name__}")
def test_entry_kernels_release_the_gil(kernel):
    assert kernel.targetoptions.get("nogil") is True


def _cases(rng: np.random.Generator) -> list[tuple]:
    table = ProbabilityModel.from_counts(rng.geometric(0.05, (3, 40)), precision=16, offsets=[-20, 0, 5])
    idx = rng.integers(0, 3, 20_000).astype(np.int32)
    sym = (table.offsets[idx] + rng.integers(0, 40, idx.size)).astype(np.int32)
    param = ParametricModel("gaussian", rng.uniform(-5, 5, 200), rng.uniform(0.5, 4, 200), -16, 16,
                            escape=True, precision=16)
    pidx = rng.integers(0, 200, 20_000).astype(np.int32)
    psym = np.rint(rng.normal(param.mean[pidx], 3 * param.scale[pidx])).astype(np.int32)
    return [(table, sym, idx), (param, psym, pidx)]


@pytest.mark.parametrize("coder", CODERS, ids=lambda c: c.id)
def test_threads_code_the_serial_bytes(coder):
    cases = _cases(np.random.default_rng(8)) * 4
    serial = [coder.encode(sym, model, idx) for model, sym, idx in cases]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda case: coder.encode(case[1], case[0], case[2]), cases))
        decoded = list(pool.map(lambda pair: coder.decode(pair[0], pair[1][0], pair[1][1].size, pair[1][2]),
                                zip(serial, cases)))
    assert threaded == serial
    for back, (_, sym, _) in zip(decoded, cases):
        assert np.array_equal(back, sym)
