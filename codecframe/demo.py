"""The main demo: real container files through the core pipeline and through every installed plugin."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .builtins.gaussian import GaussianPosterior
from .io import atomic_write, read_bytes
from .pipeline import Pipeline, decode
from .registry import load_group

DEMO_GROUP = "codecframe.demos"


def core_demo(workdir: Path) -> list[dict[str, Any]]:
    """Uniform quantization of a seeded synthetic 'ensemble mean + spread', at two targets and both coders."""
    rng = np.random.default_rng(0)
    mean = np.cumsum(rng.standard_normal((256, 256)), axis=1).astype(np.float32) * 0.1
    std = (0.05 + 0.2 * rng.random((256, 256))).astype(np.float32)
    groups = {"field": GaussianPosterior(mean=mean, std=std)}
    rows = []
    for coder in ("range", "rans"):
        for bpe in (1.0, 4.0):
            pipe = Pipeline.from_config({
                "quantizer": {"id": "uniform"},
                "allocator": {"id": "lagrangian", "target_bpe": bpe},
                "entropy_coder": {"id": coder},
            })
            path = workdir / f"core-uniform-{coder}-{bpe:g}bpe.cfr"
            atomic_write(path, pipe.encode(groups))
            rec = decode(read_bytes(path)).arrays["field"]
            nbytes = path.stat().st_size
            rmse = float(np.sqrt(np.mean((rec.astype(np.float64) - mean) ** 2)))
            rows.append({
                "plugin": "core",
                "case": f"uniform+lagrangian target {bpe:g} bpe, {coder}",
                "bits": 8 * nbytes,
                "bits_per_element": round(8 * nbytes / mean.size, 4),
                "distortion": f"RMSE {rmse:.4f}",
            })
    return rows


def run_all(workdir: Path) -> list[dict[str, Any]]:
    """Run the core demo and every registered plugin demo; a failing plugin demo is reported, not fatal."""
    workdir.mkdir(parents=True, exist_ok=True)
    rows = core_demo(workdir)
    loaded, failed = load_group(DEMO_GROUP)
    for ep, run in loaded:
        sub = workdir / ep.name
        sub.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        print(f"demo {ep.name} ({ep.distribution}) ...", file=sys.stderr, flush=True)
        try:
            rows += run(sub)
        except Exception as exc:  # report and continue with the other plugins
            failed.append((ep, f"{type(exc).__name__}: {exc}"))
        print(f"demo {ep.name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    for ep, err in failed:
        rows.append({"plugin": ep.name, "case": "FAILED", "bits": "", "bits_per_element": "", "distortion": err})
    return rows
