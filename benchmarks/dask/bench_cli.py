"""``codecframe zarr compress`` / ``decompress`` end to end, as a user runs them: wall time per command.

The source is the field of ``bench_scaleout.py`` (24 × 1024 × 4096 float32 = 100,663,296 values,
400 MiB) saved once as a ``.npy`` file. Each round runs ``compress`` with ``--workers 0`` (threads
in the command's process), 1 and 2 (a local cluster, started and warmed inside the timed command),
then ``decompress`` with ``--workers 0`` and 2, the order rotating from round to round. Checks: every
compress writes the same chunk bytes, and every decompress writes the same ``.npy`` bytes.

    .venv/bin/python benchmarks/dask/bench_cli.py --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_scaleout import COLUMNS, block

CODECFRAME = [sys.executable, "-m", "codecframe.cli.main"]
CONFIG = json.dumps({"quantizer": {"id": "uniform", "step": 0.01}})


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(CODECFRAME + argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.name != "zarr.json")
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=24, help="blocks of 1024 rows")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cf-cli-"))
    try:
        field = np.lib.format.open_memmap(workdir / "field.npy", mode="w+", dtype=np.float32,
                                          shape=(args.chunks * 1024, COLUMNS))
        for i in range(args.chunks):
            field[i * 1024 : (i + 1) * 1024] = block((i, 0), 1024)
        field.flush()
        del field
        times: dict[str, list[float]] = {f"{action} --workers {w}": [] for action, ws in
                                         (("compress", (0, 1, 2)), ("decompress", (0, 2))) for w in ws}
        digests: dict[str, set[str]] = {"compress": set(), "decompress": set()}
        for rnd in range(args.rounds):
            for workers in (0, 1, 2)[rnd % 3:] + (0, 1, 2)[:rnd % 3]:
                time.sleep(3)
                times[f"compress --workers {workers}"].append(timed(
                    ["zarr", "compress", str(workdir / "field.npy"), "-o", str(workdir / "f.zarr"), "-c", CONFIG,
                     "--workers", str(workers), "--overwrite"]))
                digests["compress"].add(digest(workdir / "f.zarr"))
            for workers in (0, 2) if rnd % 2 == 0 else (2, 0):
                time.sleep(3)
                times[f"decompress --workers {workers}"].append(timed(
                    ["zarr", "decompress", str(workdir / "f.zarr"), "-o", str(workdir / "back.npy"),
                     "--workers", str(workers)]))
                digests["decompress"].add(digest(workdir / "back.npy"))
                os.unlink(workdir / "back.npy")
            print(f"round {rnd + 1}/{args.rounds} done", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elements = args.chunks * 1024 * COLUMNS
    print(f"{elements:,} float32 values; load average after {os.getloadavg()}")
    print("| command | s, median (each round) | Melem/s |")
    print("|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| `codecframe zarr {name}` | {median:.2f} ({', '.join(f'{v:.2f}' for v in values)}) | {elements / median / 1e6:.1f} |")
    print(f"identical outputs: compress {len(digests['compress']) == 1}, decompress {len(digests['decompress']) == 1}")


if __name__ == "__main__":
    main()
