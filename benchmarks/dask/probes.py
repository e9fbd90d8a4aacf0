"""Where the 2-worker encode of ``bench_scaleout.py`` spends its time (same data, 24 chunks of 16 MiB).

- ``ceiling``: the serial loop in one process, then two independent processes that each run it
  over half the chunks at the same time: the best any scheduler can do on this machine; each
  round with glibc's defaults and with ``codecframe.dask.WORKER_MALLOC`` in the processes'
  environment, as the workers have it.
- ``cluster``: three 2-worker ``to_zarr`` encodes, with the CPU time of the client process (which
  also hosts the scheduler and the nannies) and of each worker, and the latencies around the tasks
  (graph construction, first task start after ``compute()``, last task end to return).
- ``tasks``: where one worker loses time against the serial loop: in a 1-worker cluster, four
  rounds of the serial loop in this process, the same loop as one task in the worker, one
  submitted task per chunk (``client.submit``), and ``codecframe.dask.to_zarr``.
- ``stages``: a chunk's stages (generating the source block, ``ArrayCodec.encode``, writing the
  bytes to a file), in ms per chunk, in one process and in two processes started together.
- ``read``: ``--source stored`` of ``bench_scaleout.py``: ms per chunk of reading a 16 MiB chunk
  from an uncompressed zarr array and of encoding and writing it, in processes with glibc's
  defaults, with ``codecframe.dask.WORKER_MALLOC``, and with it plus transparent huge pages for
  glibc's mapped buffers (``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``); three rounds.
- ``memory``: why two processes cannot reach 2×: the same work alone and in two concurrent
  processes, for arrays of 16 MiB (a chunk: streamed through memory), of 256 KiB (in cache) and
  for pure Python arithmetic (no memory traffic).
- ``reuse``: one 2-worker cluster, six encodes in a row: each worker's RSS before every encode
  and its peak during it, in chunk sizes; then the same with garbage collection off in the workers
  (if a chunk were held by a reference cycle, RSS would grow by a chunk per encode).
- ``empty``: writing 16 MiB chunks in this process into arrays with zarr's ``write_empty_chunks``
  False and True (six chunks each, interleaved, median of 6), and zarr's fill-value comparison
  alone, which True skips.
- ``threads``: no cluster, dask's threaded scheduler (its default for arrays): four rounds of the
  serial loop and ``to_zarr`` with 1 and 2 threads, then of the chunk-parallel decode with 1 and 2
  threads.
- ``saturation``: 1 and 2 workers with the scheduler's ``worker-saturation`` at distributed's
  default 1.1 and at inf (every ready task sent to a worker at once), two rounds of three encodes
  each.

    .venv/bin/python benchmarks/dask/probes.py ceiling
    .venv/bin/python benchmarks/dask/probes.py cluster
    .venv/bin/python benchmarks/dask/probes.py tasks
    .venv/bin/python benchmarks/dask/probes.py stages
    .venv/bin/python benchmarks/dask/probes.py read
    .venv/bin/python benchmarks/dask/probes.py memory
    .venv/bin/python benchmarks/dask/probes.py reuse
    .venv/bin/python benchmarks/dask/probes.py empty
    .venv/bin/python benchmarks/dask/probes.py threads
    .venv/bin/python benchmarks/dask/probes.py saturation
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dask
import dask.array as da
import distributed
import numpy as np
import psutil
import zarr

from bench_scaleout import (COLUMNS, block, digest, open_source, read_block, reset_peak, source, store_source,
                             worker_memory)
from codecframe import dask as cfdask
from codecframe.ecosystem.array_codec import ArrayCodec

CONFIG = {"quantizer": {"id": "uniform", "step": 0.01}}
ROWS, CHUNKS = 1024, 24


def loop(first: int, stop: int) -> float:
    """Seconds for the serial loop over chunks ``first`` to ``stop`` - 1 (coder loaded first)."""
    codec = ArrayCodec(CONFIG)
    codec.decode(codec.encode(block((0, 0), 8)))
    with tempfile.TemporaryDirectory() as workdir:
        return loop_into(f"{workdir}/a.zarr", first, stop)


def loop_into(path: str, first: int = 0, stop: int = CHUNKS) -> float:
    """Seconds for the serial loop over chunks ``first`` to ``stop`` - 1 into a new array at ``path``."""
    arr = cfdask.create_array(path, (CHUNKS * ROWS, COLUMNS), (ROWS, COLUMNS), "float32", CONFIG)
    start = time.perf_counter()
    for i in range(first, stop):
        write_chunk(arr, i)
    return time.perf_counter() - start


def write_chunk(arr: zarr.Array, i: int) -> None:
    arr[i * ROWS : (i + 1) * ROWS] = block((i, 0), ROWS)


def kernel(kind: str) -> float:
    """Seconds for 1,000 passes of copy-and-add over 16 MiB (``stream``), the same bytes as 64,000
    passes over 256 KiB (``cache``), or 5·10⁷ steps of Python integer arithmetic (``compute``)."""
    if kind == "compute":
        start, x = time.perf_counter(), 0
        for i in range(50_000_000):
            x += i * i
        return time.perf_counter() - start
    size, passes = (4 << 20, 1000) if kind == "stream" else (1 << 16, 1000 * 64)
    a = np.ones(size, np.float32)
    b = np.empty_like(a)
    start = time.perf_counter()
    for _ in range(passes):
        np.copyto(b, a)
        a += 1
    return time.perf_counter() - start


def stage_times(first: int, stop: int, start_at: float) -> list[float]:
    """Mean ms per chunk of generating, encoding and writing chunks ``first`` to ``stop`` - 1, from
    the wall-clock time ``start_at`` on (so that concurrent processes overlap past their imports)."""
    codec = ArrayCodec(CONFIG)
    codec.decode(codec.encode(block((0, 0), ROWS)))
    totals = [0.0, 0.0, 0.0]
    time.sleep(max(0.0, start_at - time.time()))
    with tempfile.TemporaryDirectory() as workdir:
        for i in range(first, stop):
            t0 = time.perf_counter()
            values = block((i, 0), ROWS)
            t1 = time.perf_counter()
            data = codec.encode(values)
            t2 = time.perf_counter()
            with open(f"{workdir}/{i}", "wb") as file:
                file.write(data)
            t3 = time.perf_counter()
            for k, span in enumerate((t1 - t0, t2 - t1, t3 - t2)):
                totals[k] += span * 1000 / (stop - first)
    return totals


def read_times(stored: str) -> list[float]:
    """Median ms per chunk of reading a chunk of the uncompressed array ``stored`` and of encoding and
    writing it into a new array; eight chunks, three passes (the first pass not counted)."""
    target = cfdask.create_array(f"{stored}.out", (8 * ROWS, COLUMNS), (ROWS, COLUMNS), "float32", CONFIG)
    source_array = open_source(Path(stored))
    spans: list[tuple[float, float]] = []
    for _ in range(3):
        for i in range(8):
            t0 = time.perf_counter()
            values = read_block(i, ROWS, source_array)
            t1 = time.perf_counter()
            target[i * ROWS : (i + 1) * ROWS] = values
            spans.append((t1 - t0, time.perf_counter() - t1))
    return [statistics.median(span[k] for span in spans[8:]) * 1000 for k in (0, 1)]


def concurrently(*argvs: list[str], env: dict[str, str] | None = None) -> list[list[float]]:
    """Run this script with each argument list in its own process, all at once; the numbers each prints."""
    procs = [subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, env=env)
             for argv in argvs]
    return [[float(v) for v in p.communicate()[0].split()] for p in procs]


def ceiling() -> None:
    malloc = {**os.environ, **{k: v for k, v in cfdask.WORKER_MALLOC.items() if v is not None}}
    for _ in range(3):
        for name, env in (("glibc defaults", None), ("WORKER_MALLOC", malloc)):
            one = concurrently(["loop", "0", str(CHUNKS)], env=env)[0][0]
            two = [t for (t,) in concurrently(["loop", "0", str(CHUNKS // 2)], ["loop", str(CHUNKS // 2), str(CHUNKS)],
                                              env=env)]
            print(f"{name}: one process {one:.3f} s; two processes {two[0]:.3f} / {two[1]:.3f} s; "
                  f"speed-up {one / max(two):.2f}×")


def tasks() -> None:
    times: dict[str, list[float]] = {"serial loop, this process": [], "loop as one task": [],
                                     "one submitted task per chunk": [], "to_zarr": []}
    with tempfile.TemporaryDirectory() as workdir, \
            cfdask.local_cluster(n_workers=1, memory_limit=None) as lc, distributed.Client(lc) as client:
        cfdask.warm_up(client, CONFIG)
        loop(0, 1)  # loads the coder in this process
        for k in range(4):
            runs = iter(times.values())
            next(runs).append(loop_into(f"{workdir}/s{k}.zarr"))
            next(runs).append(client.submit(loop_into, f"{workdir}/l{k}.zarr", pure=False).result())
            target = client.scatter(cfdask.create_array(f"{workdir}/f{k}.zarr", (CHUNKS * ROWS, COLUMNS), (ROWS, COLUMNS),
                                                        "float32", CONFIG))
            start = time.perf_counter()
            client.gather([client.submit(write_chunk, target, i, pure=False) for i in range(CHUNKS)])
            next(runs).append(time.perf_counter() - start)
            start = time.perf_counter()
            cfdask.to_zarr(source(CHUNKS, ROWS), f"{workdir}/z{k}.zarr", CONFIG)
            next(runs).append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.3f} s ({', '.join(f'{v:.2f}' for v in values)})")


def stages() -> None:
    for _ in range(3):
        for n in (1, 2):
            start_at = str(time.time() + 6)  # past both processes' imports and warm-up
            runs = concurrently(*(["stage", str(k * CHUNKS // 2), str((k + 1) * CHUNKS // 2), start_at] for k in range(n)))
            print(f"{n} process(es), ms per chunk: " + "; ".join(
                f"generate {g:.1f}, encode {e:.1f}, write {w:.1f}" for g, e, w in runs))


def read() -> None:
    malloc = {**os.environ, **{k: v for k, v in cfdask.WORKER_MALLOC.items() if v is not None}}
    environments = {"glibc defaults": None, "WORKER_MALLOC": malloc,
                    "WORKER_MALLOC + hugetlb": {**malloc, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}}
    with tempfile.TemporaryDirectory() as workdir:
        store_source(Path(workdir, "source.zarr"), 8, ROWS)
        for k in range(3):
            for name, env in environments.items():
                (reading, coding), = concurrently(["read", f"{workdir}/source.zarr"], env=env)
                shutil.rmtree(f"{workdir}/source.zarr.out")
                print(f"round {k + 1}, {name}: read {reading:.1f} ms, encode + write {coding:.1f} ms per chunk")


def memory() -> None:
    for kind in ("stream", "cache", "compute"):
        for _ in range(3):
            one = concurrently(["kernel", kind])[0][0]
            two = [t for (t,) in concurrently(["kernel", kind], ["kernel", kind])]
            print(f"{kind}: one process {one:.3f} s; each of two {two[0]:.3f} / {two[1]:.3f} s; "
                  f"slowdown {max(two) / one:.2f}× (1.00× = the second core is free)")


def cluster() -> None:
    with tempfile.TemporaryDirectory() as workdir, \
            cfdask.local_cluster(n_workers=2, memory_limit=None) as lc, distributed.Client(lc) as client:
        cfdask.warm_up(client, CONFIG)
        me = psutil.Process()
        workers = [p for p in me.children(recursive=True) if p.pid in set(client.run(os.getpid).values())]
        for k in range(3):
            cpu0 = [sum(p.cpu_times()[:2]) for p in [me, *workers]]
            t0 = time.time()
            with distributed.get_task_stream(client) as stream:
                stored = cfdask.to_zarr(source(CHUNKS, ROWS), f"{workdir}/{k}.zarr", CONFIG, compute=False)
                t1 = time.time()
                stored.compute()
            t2 = time.time()
            cpu = [sum(p.cpu_times()[:2]) - c for p, c in zip([me, *workers], cpu0)]
            spans = [s for task in stream.data for s in task["startstops"] if s["action"] == "compute"]
            first, last = min(s["start"] for s in spans), max(s["stop"] for s in spans)
            print(f"wall {t2 - t0:.3f} s; CPU s: client+scheduler {cpu[0]:.3f}, workers "
                  + ", ".join(f"{c:.3f}" for c in cpu[1:])
                  + f"; graph {1e3 * (t1 - t0):.0f} ms, first task after {1e3 * (first - t1):.0f} ms, "
                  f"return after last {1e3 * (t2 - last):.0f} ms")


def reuse() -> None:
    chunk_mib = ROWS * COLUMNS * 4 / 2**20
    for gc_off in (False, True):
        with cfdask.local_cluster(n_workers=2, memory_limit=None) as lc, distributed.Client(lc) as client:
            cfdask.warm_up(client, CONFIG)
            if gc_off:
                client.run(gc.disable)
            for k in range(6):
                client.run(reset_peak)
                before = client.run(worker_memory)
                with tempfile.TemporaryDirectory() as workdir:
                    cfdask.to_zarr(source(CHUNKS, ROWS), f"{workdir}/a.zarr", CONFIG)
                after = client.run(worker_memory)
                print(f"gc {'off' if gc_off else 'on'}, encode {k + 1}: " + "; ".join(
                    f"RSS before {before[w]['rss'] / 2**20:.0f} MiB, "
                    f"peak +{(after[w]['peak'] - before[w]['rss']) / 2**20 / chunk_mib:.2f} chunks" for w in sorted(after)))


def empty() -> None:
    from zarr.core.buffer.cpu import NDBuffer

    codec = ArrayCodec(CONFIG)
    codec.decode(codec.encode(block((0, 0), 8)))
    blocks = [block((i, 0), ROWS) for i in range(6)]
    start = time.perf_counter()
    for b in blocks:
        NDBuffer.from_numpy_array(b).all_equal(np.float32(0))
    print(f"fill-value comparison: {1e3 * (time.perf_counter() - start) / len(blocks):.1f} ms per chunk")
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(6):
        for write_empty in (False, True):
            with tempfile.TemporaryDirectory() as workdir:
                arr = cfdask.create_array(f"{workdir}/a.zarr", (len(blocks) * ROWS, COLUMNS), (ROWS, COLUMNS), "float32",
                                          CONFIG, write_empty_chunks=write_empty)
                start = time.perf_counter()
                for i, b in enumerate(blocks):
                    arr[i * ROWS : (i + 1) * ROWS] = b
                times[write_empty].append((time.perf_counter() - start) / len(blocks))
    for write_empty, values in times.items():
        print(f"write_empty_chunks={write_empty}: median {1e3 * statistics.median(values):.1f} ms per chunk "
              f"({', '.join(f'{1e3 * v:.1f}' for v in values)})")


def threads() -> None:
    loop(0, 1)  # loads the coder in this process
    times: dict[str, list[float]] = {"encode, serial loop": [], "encode, 1 thread": [], "encode, 2 threads": [],
                                     "decode, 1 thread": [], "decode, 2 threads": []}
    with tempfile.TemporaryDirectory() as workdir:
        for k in range(4):
            runs = iter(times.values())
            next(runs).append(loop_into(f"{workdir}/s{k}.zarr"))
            for n in (1, 2):
                with dask.config.set(scheduler="threads", num_workers=n):
                    start = time.perf_counter()
                    cfdask.to_zarr(source(CHUNKS, ROWS), f"{workdir}/t{k}-{n}.zarr", CONFIG)
                    next(runs).append(time.perf_counter() - start)
            for n in (1, 2):
                with dask.config.set(scheduler="threads", num_workers=n):
                    start = time.perf_counter()
                    da.from_zarr(f"{workdir}/s{k}.zarr").map_blocks(digest, chunks=(1, 8), dtype=np.uint32).compute()
                    next(runs).append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.3f} s ({', '.join(f'{v:.2f}' for v in values)})")


def saturation() -> None:
    times: dict[tuple[int, float], list[float]] = {}
    for rnd in range(2):
        for n_workers in (1, 2):
            for sat in (1.1, float("inf")):
                with dask.config.set({"distributed.scheduler.worker-saturation": sat}), \
                        cfdask.local_cluster(n_workers=n_workers, memory_limit=None) as lc, distributed.Client(lc) as client:
                    cfdask.warm_up(client, CONFIG)
                    for k in range(3):
                        with tempfile.TemporaryDirectory() as workdir:
                            start = time.perf_counter()
                            cfdask.to_zarr(source(CHUNKS, ROWS), f"{workdir}/a.zarr", CONFIG)
                            times.setdefault((n_workers, sat), []).append(time.perf_counter() - start)
    for (n_workers, sat), values in times.items():
        print(f"{n_workers} worker(s), worker-saturation {sat}: median {statistics.median(values):.3f} s "
              f"({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "loop":
        print(loop(int(sys.argv[2]), int(sys.argv[3])))
    elif len(sys.argv) == 5 and sys.argv[1] == "stage":
        print(*stage_times(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
    elif len(sys.argv) == 3 and sys.argv[1] == "read":
        print(*read_times(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "kernel":
        print(kernel(sys.argv[2]))
    else:
        probes = {"ceiling": ceiling, "tasks": tasks, "cluster": cluster, "stages": stages, "read": read, "memory": memory, "reuse": reuse, "empty": empty, "threads": threads,
                  "saturation": saturation}
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("probe", choices=tuple(probes))
        probes[parser.parse_args().probe]()
