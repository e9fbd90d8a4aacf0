"""Chunk-parallel compression throughput and per-worker memory: 1 vs 2 dask workers, plus a no-dask serial loop.

The source is a float32 field (smooth pattern + noise) generated inside the workers, one block per
zarr chunk, from a seed fixed by the block index, so no input is shipped from the client. For each
worker count it starts a ``distributed.LocalCluster`` (loopback, 1 thread per worker), warms the
numba coder in every worker, then times ``codecframe.dask.to_zarr`` (generate + encode + write)
``--repeats`` times into fresh stores, and one chunk-parallel decode; the serial loop is repeated
as often, and medians are compared (single runs of either vary by ±10 % on the 2-core machine).
Checks: the stored chunks of every run are byte-identical to the serial loop's encoding, and the
decoded chunks hash identically to a serial in-process decode.

    .venv/bin/python benchmarks/dask/bench_scaleout.py                  # 100,663,296 elements (24 chunks of 16 MiB)
    .venv/bin/python benchmarks/dask/bench_scaleout.py --chunks 4 --chunk-rows 64 --workers 1 2   # smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import dask.array as da
import distributed
import numpy as np
import psutil
import zarr

from codecframe import dask as cfdask
from codecframe.ecosystem.array_codec import ArrayCodec

COLUMNS = 4096
SEED = 20261122


def block(block_id: tuple[int, int], rows: int) -> np.ndarray:
    """The source block ``block_id`` (deterministic): a smooth pattern plus N(0, 0.05²) noise, built in place."""
    rng = np.random.default_rng([SEED, block_id[0]])
    out = rng.standard_normal((rows, COLUMNS), dtype=np.float32)
    out *= np.float32(0.05)
    wave = np.sin(np.arange(COLUMNS, dtype=np.float32) / np.float32(97.0))
    for r in range(rows):
        out[r] += wave * np.cos(np.float32(r + block_id[0] * rows) / np.float32(61.0))
    return out


def source(n_chunks: int, rows: int) -> da.Array:
    return da.map_blocks(lambda block_id=None: block(block_id, rows), dtype=np.float32,
                         chunks=((rows,) * n_chunks, (COLUMNS,)))


def digest(values: np.ndarray) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(np.ascontiguousarray(values).tobytes()).digest(), np.uint32).reshape(1, 8)


def stored_digests(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != "zarr.json"}


def worker_memory() -> dict[str, int]:
    """Current RSS and peak RSS since the last :func:`reset_peak` of this worker process, in bytes (Linux)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    kib = {key: int(status[key].split()[0]) for key in ("VmRSS", "VmHWM")}
    return {"rss": kib["VmRSS"] * 1024, "peak": kib["VmHWM"] * 1024}


def reset_peak() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS, so startup and warm-up peaks do not count."""
    Path("/proc/self/clear_refs").write_text("5")


def run_serial(args, config, workdir: Path) -> dict:
    """No dask: generate, encode and write every chunk in this process, ``--repeats`` times (fresh stores)."""
    codec = ArrayCodec(config)
    codec.decode(codec.encode(block((0, 0), 8)))  # compile/load the coder first
    times = []
    for rep in range(args.repeats):
        arr = cfdask.create_array(str(workdir / f"serial{rep}.zarr"), (args.chunks * args.chunk_rows, COLUMNS),
                                  (args.chunk_rows, COLUMNS), "float32", config)
        start = time.perf_counter()
        for i in range(args.chunks):
            arr[i * args.chunk_rows : (i + 1) * args.chunk_rows] = block((i, 0), args.chunk_rows)
        times.append(time.perf_counter() - start)
    return {"workers": 0, "encode_s": statistics.median(times), "encode_all_s": times}


def run_cluster(args, config, n_workers: int, workdir: Path) -> dict:
    """``--repeats`` encodes (fresh stores) and one decode on one cluster; memory peak over all encodes."""
    malloc = dict(cfdask.WORKER_MALLOC)
    malloc.update(item.split("=", 1) for item in args.worker_env)
    with cfdask.local_cluster(n_workers=n_workers, memory_limit=None, worker_malloc=malloc) as cluster, \
            distributed.Client(cluster) as client:
        cfdask.warm_up(client, config)
        client.run(reset_peak)
        before = client.run(worker_memory)
        times, busy = [], []
        for rep in range(args.repeats):
            start = time.perf_counter()
            with distributed.get_task_stream(client) as stream:
                cfdask.to_zarr(source(args.chunks, args.chunk_rows), str(workdir / f"w{n_workers}-{rep}.zarr"), config)
            times.append(time.perf_counter() - start)
            per_worker: dict[str, float] = {}  # seconds each worker spent computing tasks during the encode
            for task in stream.data:
                per_worker[task["worker"]] = per_worker.get(task["worker"], 0.0) + sum(
                    s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
            busy.append(per_worker)
        after = client.run(worker_memory)
        start = time.perf_counter()
        decoded = da.from_zarr(str(workdir / f"w{n_workers}-0.zarr")).map_blocks(digest, chunks=(1, 8), dtype=np.uint32).compute()
        decode_s = time.perf_counter() - start
        tasks = client.run(lambda dask_worker: dask_worker.state.executed_count)
        environ = client.run(lambda: {k: os.environ.get(k) for k in malloc})  # recorded: they change resident memory
    growth = {w: after[w]["peak"] - before[w]["rss"] for w in after}
    return {"workers": n_workers, "worker_environ": sorted({json.dumps(e, sort_keys=True) for e in environ.values()}),
            "encode_s": statistics.median(times), "encode_all_s": times, "encode_busy_s": busy, "decode_s": decode_s,
            "decoded_digests": decoded.tolist(), "peak_growth_bytes": growth,
            "baseline_rss_bytes": {w: before[w]["rss"] for w in before}, "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=24, help="number of zarr chunks (rows of blocks)")
    parser.add_argument("--chunk-rows", type=int, default=1024, help=f"rows per chunk of {COLUMNS} float32 columns")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--step", type=float, default=0.01, help="uniform quantizer step")
    parser.add_argument("--repeats", type=int, default=3, help="encodes per configuration (medians are reported)")
    parser.add_argument("--worker-env", nargs="*", default=[], metavar="KEY=VALUE",
                        help="environment variables for the worker processes on top of codecframe.dask.WORKER_MALLOC "
                             "(e.g. MALLOC_MMAP_THRESHOLD_=4194304)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    config = {"quantizer": {"id": "uniform", "step": args.step}}
    elements = args.chunks * args.chunk_rows * COLUMNS
    chunk_bytes = args.chunk_rows * COLUMNS * 4
    workdir = Path(tempfile.mkdtemp(prefix="cf-scaleout-"))
    results = {"elements": elements, "chunk_bytes": chunk_bytes, "config": config, "cpus": os.cpu_count(),
               "repeats": args.repeats, "worker_env": args.worker_env,
               "loadavg_before": os.getloadavg(), "runs": []}
    try:
        serial = run_serial(args, config, workdir)
        results["runs"].append(serial)
        reference = stored_digests(workdir / "serial0.zarr")
        arr = zarr.open_array(str(workdir / "serial0.zarr"), mode="r")
        serial_decoded = [digest(arr[i * args.chunk_rows : (i + 1) * args.chunk_rows]).tolist()[0] for i in range(args.chunks)]
        stored = sum(p.stat().st_size for p in (workdir / "serial0.zarr").rglob("*") if p.is_file())
        results["bits_per_element"] = 8.0 * stored / elements
        for n in args.workers:
            run = run_cluster(args, config, n, workdir)
            differing: set[str] = set()
            for rep in range(args.repeats):
                stored_now = stored_digests(workdir / f"w{n}-{rep}.zarr")
                differing |= {k for k in reference.keys() | stored_now.keys() if reference.get(k) != stored_now.get(k)}
            run["stored_differing_chunks"] = sorted(differing)
            run["stored_identical_to_serial"] = not differing
            run["decoded_identical_to_serial"] = run.pop("decoded_digests") == serial_decoded
            results["runs"].append(run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["loadavg_after"] = os.getloadavg()
    base = next((r for r in results["runs"] if r["workers"] == 1), None)
    print(f"{elements:,} float32 elements, chunks of {chunk_bytes / 2**20:.0f} MiB, {results['bits_per_element']:.2f} bits/element, "
          f"loadavg before {results['loadavg_before']} after {results['loadavg_after']}")
    print("| workers | encode s (median; all) | encode Melem/s | speed-up vs serial loop | vs 1 worker | decode s | "
          "decode Melem/s | max peak growth / chunk | identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        mel = elements / r["encode_s"] / 1e6
        times = f"{r['encode_s']:.2f} ({', '.join(f'{t:.2f}' for t in r['encode_all_s'])})"
        vs_serial = f"{results['runs'][0]['encode_s'] / r['encode_s']:.2f}×"
        vs_one = f"{base['encode_s'] / r['encode_s']:.2f}×" if base else "—"
        if r["workers"] == 0:
            print(f"| serial, no dask | {times} | {mel:.1f} | 1.00× | {vs_one} | — | — | — | reference |")
            continue
        growth = max(r["peak_growth_bytes"].values()) / chunk_bytes
        same = r["stored_identical_to_serial"] and r["decoded_identical_to_serial"]
        print(f"| {r['workers']} | {times} | {mel:.1f} | {vs_serial} | {vs_one} | {r['decode_s']:.2f} | "
              f"{elements / r['decode_s'] / 1e6:.1f} | {growth:.2f}× | {'yes' if same else 'NO'} |")
    for r in results["runs"]:
        if r["workers"]:
            print(f"{r['workers']} worker(s): most task compute of one worker per encode "
                  + ", ".join(f"{max(b.values()):.2f} s" for b in r["encode_busy_s"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
