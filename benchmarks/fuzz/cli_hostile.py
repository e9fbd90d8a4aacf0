"""The command line on hostile files: ``codecframe info`` and ``codecframe decode``, one process each.

    nice -n 10 .venv/bin/python benchmarks/fuzz/cli_hostile.py --mutated 200 --report cli-hostile.json

Inputs: the crafted reproductions of issue 19 that concern the container and the core (``CRAFTED``),
then ``--mutated`` files made by the fuzz harness' structured modes (CRCs repaired, header-aware
edits, stream edits) from every positive conformance vector. For each input and command the report
counts exit codes, tracebacks on stderr (any ``Traceback`` line is a failure; so is an exit code
outside 0-3), hangs (over ``--timeout`` seconds) and the process's peak RSS (``wait4``), and lists
every failing input.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

from codecframe import canonical, container  # noqa: E402
from codecframe.conformance import Corpus, default_corpus, surgery  # noqa: E402
from codecframe.io import atomic_write  # noqa: E402
from codecframe.testing.fuzz import mutate_bytes  # noqa: E402


def _edit(seed: bytes, change: Callable[[dict, list], list | None]) -> bytes:
    box = container.read(seed)
    header = copy.deepcopy({k: v for k, v in box.header.items() if k != "streams"})
    streams = list(box.streams)
    out = change(header, streams)
    return container.write(header, out if out is not None else streams)


def _group(key: str, value):  # noqa: ANN001, ANN202 - a header edit of group 0
    def change(h: dict, s: list) -> None:
        h["groups"][0][key] = value if not callable(value) else value(h["groups"][0][key])
    return change


def _timestamp(seed: bytes) -> bytes:
    box = container.read(seed)
    head = canonical.pack({**box.header, "meta": {"t": 1}})
    return surgery.replace_header(seed, head.replace(b"\xa1t\x01", b"\xa1t\xd6\xff\x00\x00\x00\x01"))


def crafted(seed: bytes) -> dict[str, bytes]:
    """Issue 19's container/core reproductions, built from a core vector."""
    out = {
        "C1 pipeline is a list": _edit(seed, lambda h, s: h.update(pipeline=[1, 2])),
        "C1 provenance entry is a string": _edit(seed, lambda h, s: h["provenance"].update(quantizer="x")),
        "C1 provenance entry is an array": _edit(seed, lambda h, s: h["provenance"].update(quantizer=[1])),
        "C1 groups is a dict": _edit(seed, lambda h, s: h.update(groups={"a": 1})),
        "C1 fewer streams than groups": _edit(seed, lambda h, s: s[:-1]),
        "C2 uniform counts 2^64-1": _edit(seed, _group("side", lambda side: {**side, "counts": [2**64 - 1]})),
        "C3 timestamp ext in meta": _timestamp(seed),
        "empty file": b"",
        "random bytes": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    }
    for dtype in ("int8", "uint64", "float16", "bool"):
        out[f"E step 1e300 into {dtype}"] = _edit(
            seed, lambda h, s, d=dtype: [g.update(dtype=d, setting={"step": 1e300}) for g in h["groups"]] and None)
    return out


def run(argv: list[str], timeout: float) -> dict:
    """Exit code, stderr tail, wall time, peak RSS (MB) and whether it timed out, for one process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        hung = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                hung = True
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    return {"code": proc.returncode, "stderr": text[-400:], "seconds": time.perf_counter() - t0,
            "rss_mb": usage.ru_maxrss / 1024, "hung": hung, "traceback": "Traceback" in text}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutated", type=int, default=200, help="harness-mutated files after the crafted ones")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a command counts as hung")
    parser.add_argument("--rss-limit-mb", type=float, default=1024.0)
    parser.add_argument("--vectors", type=Path, default=default_corpus())
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    seeds = harness.seeds_for("all", Corpus(args.vectors))
    core_seed = harness.seeds_for("core", Corpus(args.vectors))[0]
    inputs = crafted(core_seed)
    rng = np.random.default_rng(args.seed)
    for i in range(args.mutated):
        data = bytes([1 + i % 3]) + rng.bytes(int(rng.integers(1, 48)))
        if data[0] == 1:
            data = b"\x01" + mutate_bytes(rng, seeds[int(rng.integers(0, len(seeds)))])
        inputs[f"mutated {i} (mode {data[0]})"] = harness.materialize(data, seeds)
    cli = [sys.executable, "-m", "codecframe.cli.main"]
    report = {"command": " ".join(sys.argv), "inputs": len(inputs), "runs": 0, "exit_codes": {}, "tracebacks": 0,
              "hangs": 0, "over_rss": 0, "peak_rss_mb": 0.0, "slowest_s": 0.0, "failures": []}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codecframe-cli-hostile-") as tmp:
        path, out = Path(tmp, "in.cfr"), Path(tmp, "out.npz")
        commands = {"info": ["info", str(path)], "info --verbose": ["info", "--verbose", str(path)],
                    "decode": ["decode", str(path), "-o", str(out)]}
        for name, data in inputs.items():
            path.write_bytes(data)
            for label, argv in commands.items():
                r = run(cli + argv, args.timeout)
                report["runs"] += 1
                report["exit_codes"][str(r["code"])] = report["exit_codes"].get(str(r["code"]), 0) + 1
                report["peak_rss_mb"] = round(max(report["peak_rss_mb"], r["rss_mb"]), 1)
                report["slowest_s"] = round(max(report["slowest_s"], r["seconds"]), 2)
                bad = r["traceback"] or r["hung"] or r["code"] not in (0, 1, 2, 3) or r["rss_mb"] > args.rss_limit_mb
                report["tracebacks"] += r["traceback"]
                report["hangs"] += r["hung"]
                report["over_rss"] += r["rss_mb"] > args.rss_limit_mb
                if bad:
                    report["failures"].append({"input": name, "command": label, **r})
            print(f"{name}: done", file=sys.stderr, flush=True)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    atomic_write(args.report, (json.dumps(report, indent=1) + "\n").encode())
    print(json.dumps({k: v for k, v in report.items() if k != "failures"}), file=sys.stderr)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
