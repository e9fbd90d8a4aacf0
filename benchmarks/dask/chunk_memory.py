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
    codec = ArrayCodec({"quantizer": {"id": "uniform", "step": args.step}})
    codec.decode(codec.encode(block((0, 0), 8)))  # build the pipeline and load the coder first
    pipe = codec.pipeline()
    unit = args.rows * COLUMNS * 4
    tracemalloc.start()
    chunk, gen = peak(lambda: block((0, 0), args.rows), unit)
    (_, groups), post = peak(lambda: codec.groups(chunk, pipe.posterior_cls), unit)
    q, quant = peak(lambda: pipe.quantizer.quantize(groups["data"], {"step": args.step}), unit)
    model, _ = pipe.quantizer.symbol_model(q, pipe.entropy_coder.precision)
    _, coder = peak(lambda: pipe.entropy_coder.encode(q.symbols, model), unit)
    data, total = peak(lambda: codec.encode(chunk), unit)
    _, dec = peak(lambda: codec.decode(data), unit)
    tracemalloc.stop()
    print(f"chunk {unit / 2**20:.0f} MiB float32; peak new allocations in chunk sizes:")
    for name, value in [("generate the source block", gen), ("posterior (views, broadcast std)", post),
                        ("uniform quantize", quant), ("range-code the symbols", coder),
                        ("whole encode", total), ("whole decode", dec)]:
        print(f"| {name} | {value:.2f}× |")


if __name__ == "__main__":
    main()
