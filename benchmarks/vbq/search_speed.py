"""VBQ search throughput on one core: the jitted exact search vs the reference code's approach.

Peer ("numpy, reference-style"): the mandt-lab/vbq approach re-implemented in numpy: per level a
sorted grid, one searchsorted per level, both neighbours scored, argmin over the 2R+1 candidates.
Also brute force over all 2047 points (numba). Latents: 32 channels with a per-channel empirical
grid (standard normal quantiles scaled per channel), μ ~ N(0, s_c²), σ = exp(N(-1, 0.7²)), in
channel-major order as the image codec produces them. Writes JSON.

    NUMBA_NUM_THREADS=1 python benchmarks/vbq/search_speed.py --out benchmarks/vbq/search_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from codecframe_vbq import grid
from codecframe_vbq.search import GUIDE_BUCKETS, brute_force, build_guide, search


def reference_numpy(mean, std, chan, points, lengths, lam):
    """Per level: searchsorted in that level's sorted points, score both neighbours, keep the best."""
    r_max = lengths.shape[1] - 1
    lev = grid.levels(r_max)
    best_loss = np.full(mean.size, np.inf)
    best = np.zeros(mean.size, np.int64)
    for n in range(r_max + 1):
        idx = np.flatnonzero(lev == n)
        level_points = points[:, idx]  # (C, 2^n), sorted
        pos = np.empty(mean.size, np.int64)
        for c in range(points.shape[0]):
            sel = chan == c
            pos[sel] = np.searchsorted(level_points[c], mean[sel], side="left")
        for cand in (np.clip(pos - 1, 0, idx.size - 1), np.clip(pos, 0, idx.size - 1)):
            z = level_points[chan, cand]
            loss = 0.5 * ((z - mean) / std) ** 2 + lam * lengths[chan, n]
            better = loss < best_loss
            best_loss[better] = loss[better]
            best[better] = idx[cand[better]]
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/search_speed.json"))
    ap.add_argument("--latents", type=int, default=4_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    channels, r_max = 32, 10
    scale = np.exp(rng.normal(0, 0.5, channels))
    points = scale[:, None] * ndtri(grid.xi(r_max))[None, :]
    lengths = np.tile(np.arange(r_max + 1, dtype=np.float64), (channels, 1))
    chan = np.repeat(np.arange(channels, dtype=np.int64), args.latents // channels)
    mean = rng.standard_normal(chan.size) * scale[chan]
    std = np.exp(rng.normal(-1.0, 0.7, chan.size))
    guide = build_guide(points, GUIDE_BUCKETS)
    out = np.empty(chan.size, np.int32)
    search(mean[:100], std[:100], chan[:100], points, guide, lengths, 1.0, out[:100])  # compile
    rows = []
    for lam in (0.01, 0.1, 1.0, 10.0):
        best = min(_timed(lambda: search(mean, std, chan, points, guide, lengths, lam, out)) for _ in range(args.repeats))
        sub = slice(0, 200_000)
        ref_t = _timed(lambda: reference_numpy(mean[sub], std[sub], chan[sub], points, lengths, lam))
        ref = reference_numpy(mean[sub], std[sub], chan[sub], points, lengths, lam)
        n_bf = 20_000
        bf = np.empty(n_bf, np.int32)
        brute_force(mean[:1], std[:1], chan[:1], points, lengths, grid.levels(r_max), lam, bf[:1])
        bf_t = _timed(lambda: brute_force(mean[:n_bf], std[:n_bf], chan[:n_bf], points, lengths, grid.levels(r_max), lam, bf))
        rows.append({
            "lambda": lam,
            "mean_level": float(grid.levels(r_max)[out].mean()),
            "numba_exact_mlatents_per_s": chan.size / best / 1e6,
            "numpy_reference_style_mlatents_per_s": 200_000 / ref_t / 1e6,
            "numba_brute_force_mlatents_per_s": n_bf / bf_t / 1e6,
            "agree_with_reference_style": float(np.mean(ref == out[sub])),
            "agree_with_brute_force": bool(np.array_equal(bf, out[:n_bf])),
        })
        print(json.dumps(rows[-1]), flush=True)
    result = {"latents": int(chan.size), "channels": channels, "r_max": r_max, "rows": rows,
              "loadavg": open("/proc/loadavg").read().split()[:3], "machine": platform.processor() or platform.machine(),
              "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default (search is single-threaded)")}
    args.out.write_text(json.dumps(result, indent=1))
    return 0


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
