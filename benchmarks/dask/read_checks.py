"""Cost of read_zarr's per-chunk checks: read one store with dask.array.from_zarr, with
codecframe.dask.read_zarr and with zarr alone, interleaved in one process.

    .venv/bin/python benchmarks/dask/read_checks.py [REPEATS]

Writes r.zarr (64 MiB float32, four 16 MiB chunks, uniform step 0.01) in the working directory and
prints min/median wall seconds per reader under dask's sync and threaded schedulers.
"""

import shutil
import sys
import time

import dask
import dask.array as da
import numpy as np
import zarr

from codecframe import dask as cfdask

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
x = np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32)
shutil.rmtree("r.zarr", ignore_errors=True)
cfdask.to_zarr(da.from_array(x, chunks=(1024, 4096)), "r.zarr", {"quantizer": {"id": "uniform", "step": 0.01}})
readers = {"da.from_zarr": lambda: da.from_zarr("r.zarr").compute(),
           "read_zarr": lambda: cfdask.read_zarr("r.zarr").compute(),
           "zarr [...]": lambda: zarr.open_array("r.zarr", mode="r")[...]}
for scheduler in ("sync", "threads"):
    with dask.config.set(scheduler=scheduler):
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(repeats):
            for name, read in readers.items():
                start = time.perf_counter()
                read()
                times[name].append(time.perf_counter() - start)
    print(scheduler, "  ".join(f"{k}: {min(v):.3f}/{np.median(v):.3f} s" for k, v in times.items()), "(min/median)")
