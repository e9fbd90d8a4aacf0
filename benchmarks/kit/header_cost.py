"""Header bytes a quantizer config's candidate list costs in every file.

Encodes one 16×16 Gaussian group with the built-in ``uniform`` quantizer (fixed allocator, range
coder) for candidate lists of several lengths and prints the header-map length and the file size.

    .venv/bin/python benchmarks/kit/header_cost.py
"""

from __future__ import annotations

import json
import struct

import numpy as np

from codecframe import Pipeline
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.builtins.uniform import UniformQuantizer


def sizes(candidates: list[float] | None) -> tuple[int, int]:
    quantizer = {"id": "uniform"} if candidates is None else {"id": "uniform", "candidates": candidates}
    groups = {"w": GaussianPosterior.example(np.random.default_rng(0), (16, 16))}
    data = Pipeline.from_config({"quantizer": quantizer}).encode(groups)
    return struct.unpack_from("<I", data, 8)[0], len(data)


def main() -> None:
    default = len(UniformQuantizer().config.candidates)
    base = sizes([0.1])[0]
    for n in (1, 4, 12):
        header, total = sizes([0.1 * 2.0 ** (k / 2) for k in range(n)])
        print(json.dumps({"candidates": n, "header_bytes": header, "file_bytes": total, "extra_vs_1": header - base}))
    header, total = sizes(None)
    print(json.dumps({"candidates": f"default ({default})", "header_bytes": header, "file_bytes": total,
                      "extra_vs_1": header - base}))


if __name__ == "__main__":
    main()
