"""Fuzz campaign over the container reader and every decoder; writes a JSON report.

    nice -n 19 .venv/bin/python benchmarks/fuzz/campaign.py --runs container=1000000 core=300000 \\
        --report benchmarks/fuzz/report.json

Issue 19's structural campaign (every positive vector; decode, ``info`` and the CLI):

    nice -n 10 .venv/bin/python benchmarks/fuzz/campaign.py --engine mutate \\
        --runs all=600000 info=250000 cli=150000 --report report.json

Engines: ``atheris`` (coverage-guided libFuzzer; one subprocess per target, seeded with the
conformance vectors) when it is installed, else ``mutate`` (a seeded in-process mutation loop over
the same four input modes of :mod:`harness`). Per target the report gives the inputs executed
(and per second), the outcomes per input mode, crashes (inputs that raised an exception that is
not a CodecframeError, grouped by signature, or a dead process), hangs (an input over
``--hang-seconds``), the slowest input and the peak RSS.
Artifacts (``--artifacts``, emptied per run) hold every crashing input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

from codecframe.conformance import Corpus, default_corpus  # noqa: E402
from codecframe.testing.fuzz import mutate_bytes  # noqa: E402
from codecframe.io import atomic_write  # noqa: E402

_STAT = re.compile(r"stat::(\w+):\s+(\d+)")


#: The harness' input modes, by their mode byte.
MODES = ("raw", "crc-fixed", "header-edit", "stream-edit")


def run_mutate(target: str, runs: int, seed: int, hang_seconds: float, artifacts: Path, vectors: Corpus,
               progress_every: int = 20_000) -> dict:
    """The in-process engine: inputs in the four harness modes, generated from a seeded generator."""
    files = harness.seeds_for(target, vectors)
    seeds = harness.seed_inputs(files)
    rng = np.random.default_rng(seed)
    stats = {"engine": "mutate", "inputs": 0, "ok": 0, "rejected": 0, "hangs": 0, "slowest_s": 0.0,
             "by_mode": {name: {"ok": 0, "rejected": 0, "crashed": 0} for name in MODES}}
    t_start = time.perf_counter()
    for i in range(runs):
        mode = i % 4
        if mode < 2:
            data = bytes([mode]) + mutate_bytes(rng, files[int(rng.integers(0, len(files)))])
        else:
            data = bytes([mode]) + rng.bytes(int(rng.integers(1, 48)))
        if i < len(seeds):
            data = seeds[i]
        t0 = time.perf_counter()
        by_mode = stats["by_mode"][MODES[data[0] % 4]]
        try:
            outcome = harness.check(target, data, files)
            stats[outcome] += 1
            by_mode[outcome] += 1
        except Exception as exc:  # noqa: BLE001 - a crash: record the input and keep going
            harness.record_crash(artifacts, target, data, exc)
            by_mode["crashed"] += 1
        elapsed = time.perf_counter() - t0
        stats["slowest_s"] = max(stats["slowest_s"], elapsed)
        stats["hangs"] += elapsed > hang_seconds
        stats["inputs"] += 1
        if stats["inputs"] % progress_every == 0:  # partial figures, in case the campaign is stopped
            print(json.dumps({target: {**stats, "seconds": round(time.perf_counter() - t_start, 1),
                                       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                                       **crash_summary(artifacts, target)}}), file=sys.stderr, flush=True)
    stats["seconds"] = round(time.perf_counter() - t_start, 1)
    stats["inputs_per_s"] = round(stats["inputs"] / max(stats["seconds"], 1e-9), 1)
    stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    stats["slowest_s"] = round(stats["slowest_s"], 4)
    return {**stats, **crash_summary(artifacts, target)}


def crash_summary(artifacts: Path, target: str) -> dict:
    """Crashes recorded for ``target``: how many inputs, and how many per distinct signature."""
    path = artifacts / f"{target}-crashes.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    signatures: dict[str, int] = {}
    for line in lines:
        signatures[line["signature"]] = signatures.get(line["signature"], 0) + 1
    return {"crashes": len(lines), "crash_signatures": signatures}


def run_atheris(target: str, runs: int, seed: int, hang_seconds: float, rss_mb: int, artifacts: Path,
                vectors: Corpus, chunk: int) -> dict:
    """The coverage-guided engine: libFuzzer subprocesses of at most ``chunk`` inputs each, sharing one
    growing corpus directory. Restarting bounds atheris' own memory growth (its instrumentation
    grows the process by ~18 KB per input on the decode targets; uninstrumented, RSS stays flat).
    A chunk that stops early (hang, out-of-memory, dead interpreter) ends the target."""
    artifacts.mkdir(parents=True, exist_ok=True)
    total = {"engine": "atheris", "inputs": 0, "stopped": 0, "hangs": 0, "slowest_s": 0, "peak_rss_mb": 0,
             "new_units_added": 0, "seconds": 0.0, "chunks": 0, "log_tail": ""}
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as corpus:
        for i, data in enumerate(harness.seed_inputs(harness.seeds_for(target, vectors))):
            Path(corpus, f"seed-{i:05d}").write_bytes(data)
        while total["inputs"] < runs:
            n = min(chunk, runs - total["inputs"])
            argv = [sys.executable, str(HERE / "atheris_target.py"), str(vectors.root), target, str(artifacts),
                    f"-runs={n}", f"-seed={seed + 1 + total['chunks']}",
                    f"-timeout={int(hang_seconds)}", f"-rss_limit_mb={rss_mb}", "-print_final_stats=1",
                    f"-artifact_prefix={artifacts}/{target}-", "-max_len=65536", corpus]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            stats = {k: int(v) for k, v in _STAT.findall(proc.stderr)}
            total["chunks"] += 1
            total["seconds"] += time.perf_counter() - t0
            total["inputs"] += stats.get("number_of_executed_units", 0)
            total["slowest_s"] = max(total["slowest_s"], stats.get("slowest_unit_time_sec", 0))
            total["peak_rss_mb"] = max(total["peak_rss_mb"], stats.get("peak_rss_mb", 0))
            total["new_units_added"] += stats.get("new_units_added", 0)
            if proc.returncode != 0:  # a hang, an out-of-memory or a dead interpreter
                tail = proc.stderr[-4000:]
                total["hangs" if "timeout" in tail.lower() else "stopped"] += 1
                total["log_tail"] = tail
                break
    summary = crash_summary(artifacts, target)
    total["crashes"] = summary["crashes"] + total.pop("stopped")
    total["crash_signatures"] = summary["crash_signatures"]
    total["seconds"] = round(total["seconds"], 1)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True, metavar="TARGET=N",
                        help=f"inputs per target; targets: {', '.join(harness.TARGETS)}")
    parser.add_argument("--engine", choices=["auto", "atheris", "mutate"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang-seconds", type=float, default=10.0)
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=50_000, help="inputs per libFuzzer process (atheris engine)")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "codecframe-fuzz-artifacts")
    parser.add_argument("--vectors", type=Path, default=default_corpus(), help="conformance vectors that seed the targets")
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "mutate"
    vectors = Corpus(args.vectors)
    report = {"engine": engine, "command": " ".join(sys.argv), "loadavg_start": os.getloadavg(), "targets": {}}
    for item in args.runs:
        target, _, n = item.partition("=")
        if target not in harness.TARGETS or not n.isdigit():
            parser.error(f"bad --runs entry {item!r}")
        (args.artifacts / f"{target}-crashes.jsonl").unlink(missing_ok=True)
        print(f"fuzzing {target}: {n} inputs with {engine}", file=sys.stderr, flush=True)
        if engine == "atheris":
            stats = run_atheris(target, int(n), args.seed, args.hang_seconds, args.rss_limit_mb, args.artifacts, vectors,
                                args.chunk)
        else:
            stats = run_mutate(target, int(n), args.seed, args.hang_seconds, args.artifacts, vectors)
        report["targets"][target] = stats
        print(json.dumps({target: {k: v for k, v in stats.items() if k != "log_tail"}}), file=sys.stderr, flush=True)
        atomic_write(args.report, (json.dumps(report, indent=1) + "\n").encode())
    totals = report["targets"].values()
    report["total_inputs"] = sum(t["inputs"] for t in totals)
    report["total_crashes"] = sum(t["crashes"] for t in totals)
    report["total_hangs"] = sum(t["hangs"] for t in totals)
    report["loadavg_end"] = os.getloadavg()
    atomic_write(args.report, (json.dumps(report, indent=1) + "\n").encode())
    return 1 if report["total_crashes"] or report["total_hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
