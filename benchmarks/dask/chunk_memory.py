"""Where a worker's memory goes when it codes one chunk: peak traced allocations per stage, in chunk sizes.

numpy reports its buffers to tracemalloc, so each figure is the peak of new allocations during
that stage divided by the chunk's bytes (the chunk itself is not counted).

    .venv/bin/python benchmarks/dask/chunk_memory.py --rows 1024     # a 16 MiB float32 chunk
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections.abc import Callable
from typing import Any

from bench_scaleout import COLUMNS, block

from codecframe.ecosystem.array_codec import ArrayCodec


def peak(fn: Callable[[], Any], unit: int) -> tuple[Any, float]:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = fn()
    return out, (tracemalloc.get_traced_memory()[1] - base) / unit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--step", type=float, default=0.01)
    args = parser.parse_args()
    unit = args.rows * COLUMNS * 4
    rows = []
    tracemalloc.start()
    chunk, gen = peak(lambda: block((0, 0), args.rows), unit)
    rows.append(("generate the source block", gen))
    for label, limit in (("whole chunk as one group", None), ("default blocks of 2^20 values", 1 << 20)):
        codec = ArrayCodec({"quantizer": {"id": "uniform", "step": args.step}, "max_group_elements": limit})
        codec.decode(codec.encode(block((0, 0), 8)))  # build the pipeline and load the coder first
        pipe = codec.pipeline()
        (_, groups), post = peak(lambda: codec.groups(chunk, pipe.posterior_cls), unit)
        q, quant = peak(lambda: pipe.quantizer.quantize(groups["data/0"], {"step": args.step}), unit)
        model, _ = pipe.quantizer.symbol_model(q, pipe.entropy_coder.precision)
        _, coder = peak(lambda: pipe.entropy_coder.encode(q.symbols, model), unit)
        del q, model, groups
        data, total = peak(lambda: codec.encode(chunk), unit)
        _, dec = peak(lambda: codec.decode(data), unit)
        rows += [(f"{label}: posteriors (views, broadcast std)", post), (f"{label}: uniform quantize of group 0", quant),
                 (f"{label}: range-code group 0", coder), (f"{label}: whole encode", total),
                 (f"{label}: whole decode (output included)", dec)]
    tracemalloc.stop()
    print(f"chunk {unit / 2**20:.0f} MiB float32; peak new allocations in chunk sizes:")
    for name, value in rows:
        print(f"| {name} | {value:.2f}× |")


if __name__ == "__main__":
    main()
