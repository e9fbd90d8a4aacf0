"""Overhead of running the kit's contract checks in a child process (``codecframe.testing.isolated``).

For every installed component, alternately runs ``suite.check`` directly and in a forked child
(``timeout`` set), ``--rounds`` times each after one warm-up of both, and prints the median
seconds and their ratio as JSON lines, then the totals.

    .venv/bin/python benchmarks/kit/isolation_overhead.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from codecframe.testing import suite


def _seconds(target: suite.Target, timeout: float | None) -> float:
    t0 = time.perf_counter()
    suite.check(target, timeout=timeout)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    totals = {"direct": 0.0, "isolated": 0.0}
    for target in suite.components():
        _seconds(target, None), _seconds(target, 600.0)  # warm-up: imports, JIT, assets
        runs: dict[str, list[float]] = {"direct": [], "isolated": []}
        for _ in range(args.rounds):
            runs["direct"].append(_seconds(target, None))
            runs["isolated"].append(_seconds(target, 600.0))
        med = {k: statistics.median(v) for k, v in runs.items()}
        for k in totals:
            totals[k] += med[k]
        print(json.dumps({"target": str(target), **{k: round(v, 4) for k, v in med.items()},
                          "extra_ms": round(1000 * (med["isolated"] - med["direct"]), 1)}), flush=True)
    print(json.dumps({"total_direct_s": round(totals["direct"], 3), "total_isolated_s": round(totals["isolated"], 3),
                      "ratio": round(totals["isolated"] / totals["direct"], 3)}))


if __name__ == "__main__":
    main()
