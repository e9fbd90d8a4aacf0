"""Where the 2-worker encode of ``bench_scaleout.py`` spends its time (same data, 24 chunks of 16 MiB).

- ``ceiling``: the serial loop in one process, then two independent processes that each run it
  over half the chunks at the same time: the best any scheduler can do on this machine.
- ``cluster``: three 2-worker ``to_zarr`` encodes, with the CPU time of the client process (which
  also hosts the scheduler and the nannies) and of each worker, and the latencies around the tasks
  (graph construction, first task start after ``compute()``, last task end to return).

- ``saturation``: 1 and 2 workers with the scheduler's ``worker-saturation`` at distributed's
  default 1.1 and at inf (every ready task sent to a worker at once), two rounds of three encodes
  each.

    .venv/bin/python benchmarks/dask/probes.py ceiling
    .venv/bin/python benchmarks/dask/probes.py cluster
    .venv/bin/python benchmarks/dask/probes.py saturation
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

import dask
import distributed
import psutil

from bench_scaleout import COLUMNS, block, source
from codecframe import dask as cfdask
from codecframe.ecosystem.array_codec import ArrayCodec

CONFIG = {"quantizer": {"id": "uniform", "step": 0.01}}
ROWS, CHUNKS = 1024, 24


def loop(first: int, stop: int) -> float:
    """Seconds for the serial loop over chunks ``first`` to ``stop`` - 1 (coder loaded first)."""
    codec = ArrayCodec(CONFIG)
    codec.decode(codec.encode(block((0, 0), 8)))
    arr = cfdask.create_array(tempfile.mkdtemp() + "/a.zarr", (CHUNKS * ROWS, COLUMNS), (ROWS, COLUMNS), "float32", CONFIG)
    start = time.perf_counter()
    for i in range(first, stop):
        arr[i * ROWS : (i + 1) * ROWS] = block((i, 0), ROWS)
    return time.perf_counter() - start


def ceiling() -> None:
    def run(*ranges: tuple[int, int]) -> list[float]:
        procs = [subprocess.Popen([sys.executable, __file__, "loop", str(a), str(b)], stdout=subprocess.PIPE, text=True)
                 for a, b in ranges]
        return [float(p.communicate()[0]) for p in procs]

    for _ in range(3):
        one = run((0, CHUNKS))[0]
        two = run((0, CHUNKS // 2), (CHUNKS // 2, CHUNKS))
        print(f"one process {one:.3f} s; two processes {two[0]:.3f} / {two[1]:.3f} s; speed-up {one / max(two):.2f}×")


def cluster() -> None:
    workdir = tempfile.mkdtemp()
    with cfdask.local_cluster(n_workers=2, memory_limit=None) as lc, distributed.Client(lc) as client:
        cfdask.warm_up(client, CONFIG)
        me = psutil.Process()
        workers = [p for p in me.children(recursive=True) if p.pid in set(client.run(lambda: __import__("os").getpid()).values())]
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


def saturation() -> None:
    workdir = tempfile.mkdtemp()
    times: dict[tuple[int, float], list[float]] = {}
    for rnd in range(2):
        for n_workers in (1, 2):
            for sat in (1.1, float("inf")):
                with dask.config.set({"distributed.scheduler.worker-saturation": sat}), \
                        cfdask.local_cluster(n_workers=n_workers, memory_limit=None) as lc, distributed.Client(lc) as client:
                    cfdask.warm_up(client, CONFIG)
                    for k in range(3):
                        start = time.perf_counter()
                        cfdask.to_zarr(source(CHUNKS, ROWS), f"{workdir}/{rnd}-{n_workers}-{sat}-{k}.zarr", CONFIG)
                        times.setdefault((n_workers, sat), []).append(time.perf_counter() - start)
    for (n_workers, sat), values in times.items():
        print(f"{n_workers} worker(s), worker-saturation {sat}: median {statistics.median(values):.3f} s "
              f"({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "loop":
        print(loop(int(sys.argv[2]), int(sys.argv[3])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("probe", choices=("ceiling", "cluster", "saturation"))
        {"ceiling": ceiling, "cluster": cluster, "saturation": saturation}[parser.parse_args().probe]()
