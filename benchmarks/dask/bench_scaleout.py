"""Chunk-parallel compression throughput and per-worker memory: 1 vs 2 dask workers, plus a no-dask serial loop.

The source is a float32 field (smooth pattern + noise) generated inside the workers, one block per
zarr chunk, from a seed fixed by the block index, so no input is shipped from the client. The
three configurations are interleaved in ``--rounds`` rounds (their order rotates from round to
round), so that a drift of the machine's speed, which on the 2-core VM reaches ±20 % over minutes,
hits all three alike; the speed-ups are computed within each round and their median is reported.
In a round: the serial loop (generate + encode + write, chunk after chunk, in this process) into a
fresh store; and for 1 and for 2 workers a fresh ``distributed.LocalCluster`` (loopback, 1 thread
per worker), the numba coder warmed in every worker, one timed ``codecframe.dask.to_zarr`` into a
fresh store and one chunk-parallel decode. Before anything is timed, every worker (and the
benchmark's process, before the first serial loop) codes and writes one full-size chunk, so that
no side pays a process's first-chunk costs (heap growth, zarr's imports on first write) in the
timed part; ``--cold`` leaves that chunk out. Memory is measured from before that chunk, so it
includes them. With ``--source stored`` the blocks are generated once, before anything is timed,
into an uncompressed zarr array on disk, and every configuration reads its chunks from there
(read + encode + write: the case of compressing an array that already exists) instead of
generating them. Checks: the stored chunks of every run are
byte-identical to the serial loop's encoding, and the decoded chunks hash identically to a serial
in-process decode.

    .venv/bin/python benchmarks/dask/bench_scaleout.py                  # 100,663,296 elements (24 chunks of 16 MiB)
    .venv/bin/python benchmarks/dask/bench_scaleout.py --source stored  # the same, read from an uncompressed zarr array
    .venv/bin/python benchmarks/dask/bench_scaleout.py --chunks 4 --chunk-rows 64 --rounds 2   # smoke run
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

import dask
import dask.array as da
import distributed
import numpy as np
import zarr

from codecframe import dask as cfdask

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


def source(n_chunks: int, rows: int, stored: Path | None = None) -> da.Array:
    """The source as a dask array: generated block by block, or read from the uncompressed array ``stored``."""
    if stored is not None:
        return da.from_zarr(str(stored))
    return da.map_blocks(lambda block_id=None: block(block_id, rows), dtype=np.float32,
                         chunks=((rows,) * n_chunks, (COLUMNS,)))


def store_source(path: Path, n_chunks: int, rows: int) -> None:
    """Write the generated blocks into an uncompressed zarr array at ``path`` (chunk = block)."""
    arr = zarr.create_array(str(path), shape=(n_chunks * rows, COLUMNS), chunks=(rows, COLUMNS), dtype="float32",
                            compressors=None)
    for i in range(n_chunks):
        arr[i * rows : (i + 1) * rows] = block((i, 0), rows)


def open_source(stored: Path | None) -> zarr.Array | None:
    """The uncompressed source array at ``stored``, opened once for all its reads; None: generated."""
    return None if stored is None else zarr.open_array(str(stored), mode="r")


def read_block(i: int, rows: int, source_array: zarr.Array | None) -> np.ndarray:
    """Block ``i`` of the source, generated or read from ``source_array`` (:func:`open_source`)."""
    if source_array is None:
        return block((i, 0), rows)
    return source_array[i * rows : (i + 1) * rows]


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


def write_one_chunk(rows: int, config: dict, stored: Path | None) -> None:
    """Get one full-size source chunk, code and write it into a scratch array, deleted afterwards."""
    with tempfile.TemporaryDirectory() as workdir:
        arr = cfdask.create_array(f"{workdir}/w.zarr", (rows, COLUMNS), (rows, COLUMNS), "float32", config)
        arr[...] = read_block(0, rows, open_source(stored))


def run_serial(args, config, store: Path, stored: Path | None) -> dict:
    """No dask: generate (or read), encode and write every chunk in this process."""
    arr = cfdask.create_array(str(store), (args.chunks * args.chunk_rows, COLUMNS), (args.chunk_rows, COLUMNS),
                              "float32", config)
    source_array = open_source(stored)
    start = time.perf_counter()
    for i in range(args.chunks):
        cfdask.write_chunk(arr, (i, 0), read_block(i, args.chunk_rows, source_array))  # as to_zarr's tasks do
    return {"encode_s": time.perf_counter() - start}


def run_cluster(args, config, n_workers: int, store: Path, stored: Path | None) -> dict:
    """On a fresh cluster: warm up, one timed encode (with each worker's task compute time and peak memory), one decode."""
    malloc = dict(cfdask.WORKER_MALLOC)
    malloc.update(item.split("=", 1) for item in args.worker_env)
    settings = {key: dask.config.interpret_value(value) for key, value in (item.split("=", 1) for item in args.dask_config)}
    with dask.config.set(settings), \
            cfdask.local_cluster(n_workers=n_workers, memory_limit=None, worker_malloc=malloc) as cluster, \
            distributed.Client(cluster) as client:
        cfdask.warm_up(client, config)
        client.run(reset_peak)
        before = client.run(worker_memory)
        if not args.cold:
            client.run(write_one_chunk, args.chunk_rows, config, stored)
        with distributed.get_task_stream(client) as stream:
            start = time.perf_counter()
            cfdask.to_zarr(source(args.chunks, args.chunk_rows, stored), str(store), config)
            encode_s = time.perf_counter() - start
        busy: dict[str, float] = {}  # seconds each worker spent computing tasks during the encode
        for task in stream.data:
            busy[task["worker"]] = busy.get(task["worker"], 0.0) + sum(
                s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        after = client.run(worker_memory)
        start = time.perf_counter()
        decoded = da.from_zarr(str(store)).map_blocks(digest, chunks=(1, 8), dtype=np.uint32).compute()
        decode_s = time.perf_counter() - start
        environ = client.run(lambda: {k: os.environ.get(k) for k in malloc})  # recorded: they change resident memory
    return {"encode_s": encode_s, "encode_busy_s": sorted(busy.values()), "decode_s": decode_s,
            "decoded_digests": decoded.tolist(), "worker_environ": sorted({json.dumps(e, sort_keys=True) for e in environ.values()}),
            "peak_growth_bytes": sorted(after[w]["peak"] - before[w]["rss"] for w in after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=24, help="number of zarr chunks (rows of blocks)")
    parser.add_argument("--chunk-rows", type=int, default=1024, help=f"rows per chunk of {COLUMNS} float32 columns")
    parser.add_argument("--step", type=float, default=0.01, help="uniform quantizer step")
    parser.add_argument("--max-group-elements", type=int, help="codec option: values per coded group (default: the codec's)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of serial, 1 and 2 workers")
    parser.add_argument("--worker-env", nargs="*", default=[], metavar="KEY=VALUE",
                        help="environment variables for the worker processes on top of codecframe.dask.WORKER_MALLOC "
                             "(e.g. MALLOC_MMAP_THRESHOLD_=4194304)")
    parser.add_argument("--dask-config", nargs="*", default=[], metavar="KEY=VALUE",
                        help="dask config for the clusters (e.g. distributed.worker.profile.enabled=False)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds of idle before each configuration")
    parser.add_argument("--cold", action="store_true",
                        help="no full-size chunk before the timed part (workers' first chunks are timed)")
    parser.add_argument("--source", choices=("generated", "stored"), default="generated",
                        help="generate the blocks in the timed part, or read them from an uncompressed zarr array")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    config = {"quantizer": {"id": "uniform", "step": args.step}}
    if args.max_group_elements:
        config["max_group_elements"] = args.max_group_elements
    elements = args.chunks * args.chunk_rows * COLUMNS
    chunk_bytes = args.chunk_rows * COLUMNS * 4
    workdir = Path(tempfile.mkdtemp(prefix="cf-scaleout-"))
    stored = workdir / "source.zarr" if args.source == "stored" else None
    results = {"elements": elements, "chunk_bytes": chunk_bytes, "config": config, "cpus": os.cpu_count(),
               "rounds": args.rounds, "source": args.source, "settle_s": args.settle, "cold": args.cold, "worker_env": args.worker_env, "dask_config": args.dask_config,
               "loadavg_before": os.getloadavg(), "runs": {"serial": [], "1": [], "2": []}}
    runs = results["runs"]
    reference: dict[str, str] = {}
    serial_decoded: list = []
    try:
        if stored is not None:
            store_source(stored, args.chunks, args.chunk_rows)
        write_one_chunk(args.chunk_rows if not args.cold else 8, config, stored)  # this process, warmed like the workers
        for rnd in range(args.rounds):
            order = ["serial", "1", "2"]
            order = order[rnd % 3:] + order[:rnd % 3]
            for name in order:
                store = workdir / f"{name}-{rnd}.zarr"
                time.sleep(args.settle)  # let the previous configuration's processes, writeback and deletions finish
                run = (run_serial(args, config, store, stored) if name == "serial"
                       else run_cluster(args, config, int(name), store, stored))
                if not reference and name == "serial":
                    reference = stored_digests(store)
                    arr = zarr.open_array(str(store), mode="r")
                    serial_decoded = [digest(arr[i * args.chunk_rows : (i + 1) * args.chunk_rows]).tolist()[0]
                                      for i in range(args.chunks)]
                    results["bits_per_element"] = 8.0 * sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / elements
                run["stored"] = stored_digests(store)
                runs[name].append(run)
                shutil.rmtree(store)
                print(f"round {rnd + 1}/{args.rounds}: {name:>6} {run['encode_s']:.2f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["loadavg_after"] = os.getloadavg()
    for name, rs in runs.items():
        for run in rs:
            stored = run.pop("stored")
            run["stored_identical_to_serial"] = stored == reference
            if name != "serial":
                run["decoded_identical_to_serial"] = run.pop("decoded_digests") == serial_decoded
    ratio = {key: [s["encode_s"] / r["encode_s"] for s, r in zip(runs[base], runs["2"])]
             for key, base in (("2_vs_serial", "serial"), ("2_vs_1", "1"))}
    results["speedups"] = ratio

    def fmt(values: list[float], unit: str = "") -> str:
        return f"{statistics.median(values):.2f}{unit} ({', '.join(f'{v:.2f}' for v in values)})"

    print(f"{elements:,} float32 elements, chunks of {chunk_bytes / 2**20:.0f} MiB, {results['bits_per_element']:.2f} "
          f"bits/element, {args.rounds} rounds, loadavg before {results['loadavg_before']} after {results['loadavg_after']}")
    print("| configuration | encode s, median (each round) | encode Melem/s | decode Melem/s | peak growth / chunk, max | "
          "task compute s per worker, median | identical to serial |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in runs.items():
        enc = [r["encode_s"] for r in rs]
        mel = elements / statistics.median(enc) / 1e6
        if name == "serial":
            same = all(r["stored_identical_to_serial"] for r in rs)
            print(f"| serial loop, no dask | {fmt(enc)} | {mel:.1f} | — | — | — | {'reference' if same else 'NO'} |")
            continue
        dec = elements / statistics.median(r["decode_s"] for r in rs) / 1e6
        growth = max(max(r["peak_growth_bytes"]) for r in rs) / chunk_bytes
        busy = statistics.median(max(r["encode_busy_s"]) for r in rs)
        same = all(r["stored_identical_to_serial"] and r["decoded_identical_to_serial"] for r in rs)
        print(f"| {name} worker(s) | {fmt(enc)} | {mel:.1f} | {dec:.1f} | {growth:.2f}× | {busy:.2f} | {'yes' if same else 'NO'} |")
    print(f"2 workers vs serial loop, per round: {fmt(ratio['2_vs_serial'], '×')}")
    print(f"2 workers vs 1 worker, per round: {fmt(ratio['2_vs_1'], '×')}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
