"""to_zarr then reading back (threads), best and median of REPEATS, for whichever codecframe is
imported: run it once per checkout to compare two of them on the same machine.

    .venv/bin/python benchmarks/dask/write_read_times.py REPEATS LABEL
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/dask/write_read_times.py REPEATS LABEL

Reads with codecframe.dask.read_zarr where the checkout has it, else dask.array.from_zarr.
Writes w.zarr (64 MiB float32, four 16 MiB chunks) in the working directory.
"""

import shutil
import sys
import time

import dask.array as da
import numpy as np

from codecframe import dask as cfdask

repeats, label = int(sys.argv[1]), sys.argv[2]
x = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
source = da.from_array(x, chunks=(1024, 4096))
config = {"quantizer": {"id": "uniform", "step": 0.01}}
reader = getattr(cfdask, "read_zarr", da.from_zarr)
writes, reads = [], []
for _ in range(repeats):
    shutil.rmtree("w.zarr", ignore_errors=True)
    start = time.perf_counter()
    cfdask.to_zarr(source, "w.zarr", config)
    writes.append(time.perf_counter() - start)
    start = time.perf_counter()
    reader("w.zarr").compute()
    reads.append(time.perf_counter() - start)
print(f"{label}: to_zarr min {min(writes):.3f} s median {np.median(writes):.3f} s; "
      f"read min {min(reads):.3f} s median {np.median(reads):.3f} s")
