"""Peak RSS that ``quantize`` adds, in a fresh process, for a stack of ``n`` equal Linear layers.

    .venv/bin/python benchmarks/bayesq/memory_probe.py --layers 8 --width 1024 --method bayesq

Prints one JSON line: the parameters, the resident set size just before ``quantize`` (after a
warm-up call that compiles the kernels), its peak during the call (sampled every millisecond by a
thread from ``/proc/self/statm``; Linux), and the difference in bytes and per fp32 weight byte.
Before the baseline is read, freed heap pages go back to the kernel (:func:`settle`), so that the
difference does not depend on whether the call happens to reuse memory the warm-up freed.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import sys
import threading
import time

import torch
from torch import nn


def rss() -> int:
    """Current resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> None:
    """Collect garbage and hand freed heap pages back to the kernel (glibc ``malloc_trim``), so that
    the baseline RSS does not include memory a warm-up freed, which the measured call might reuse."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the baseline keeps what the allocator holds
        pass


class PeakRSS:
    """Highest :func:`rss` seen while the block runs (a sampling thread)."""

    def __enter__(self) -> "PeakRSS":
        self.peak, self._stop = rss(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--positions", type=int, default=1, help="tokens per sample (inputs (N, T, width))")
    p.add_argument("--method", default="bayesq")
    p.add_argument("--rounding", default=None)
    p.add_argument("--bits", type=float, default=3.0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from codecframe_bayesq.api import quantize

    torch.manual_seed(0)
    layers = []
    for _ in range(args.layers):
        layers += [nn.Linear(args.width, args.width), nn.Tanh()]
    model = nn.Sequential(*layers, nn.Linear(args.width, 10))
    shape = (args.samples, args.width) if args.positions == 1 else (args.samples, args.positions, args.width)
    x = torch.randn(*shape)
    kw = {} if args.rounding is None else {"rounding": args.rounding}
    if args.method != "bayesq":
        kw["method"] = args.method
    quantize(nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3)), torch.randn(4, 8), args.bits,
             **kw)  # warm-up: kernels compiled / loaded
    settle()
    before = rss()
    t0 = time.perf_counter()
    with PeakRSS() as peak:
        quantize(model, x, args.bits, **kw)
    seconds = time.perf_counter() - t0
    after = peak.peak
    weights = sum(m.weight.numel() for m in model if isinstance(m, nn.Linear))
    print(json.dumps({**vars(args), "weights": weights, "rss_before": before, "peak_during": after,
                      "added": after - before, "added_per_fp32_byte": (after - before) / (4 * weights),
                      "seconds": round(seconds, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
