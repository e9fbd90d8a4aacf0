"""Entropy-coder benchmark (issue 3): codecframe's range and rANS coders against constriction and torchac.

Cases (specs/range-coder.md is the format; docs/benchmarks.md holds the figures):

(a) iid categorical: 10,000,000 symbols from one fixed 256-symbol distribution (a two-sided
    geometric around 128 with entropy ~4.4 bits);
(b) learned compression: 1,000,000 symbols, each with its own quantized Gaussian (mean uniform in
    [-20, 20], std uniform in [0.1, 10]), support [-64, 64]; model construction is timed with coding.

Reports Msym/s for encode and decode (median of ``--repeats`` runs, coders interleaved within each
run; wall clock and thread CPU time, since the machine is shared), the size overhead against the
information content under our integer model and against the ideal float model, the ratio to each
peer, the model-construction time, and the start-up time of a second process that loads the numba
cache. Writes everything to ``--out`` as JSON.

    .venv/bin/python benchmarks/coders/bench_coders.py --out benchmarks/coders/results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import log_ndtr, ndtr

from codecframe.coders import RangeCoder, RansCoder
from codecframe.probability import ParametricModel, ProbabilityModel

SUPPORT = (-64, 64)
CHILD = """
import time
t0 = time.perf_counter()
import json
import numpy as np
from codecframe.coders import RangeCoder, RansCoder
from codecframe.probability import ParametricModel, ProbabilityModel
t1 = time.perf_counter()
rng = np.random.default_rng(1)
table = ProbabilityModel.from_pmf(rng.random(256))
sym = rng.integers(0, 256, 1000).astype(np.int32)
param = ParametricModel("gaussian", rng.normal(0, 5, 1000), rng.uniform(0.1, 10, 1000), -64, 64)
psym = np.clip(np.rint(param.mean), -64, 64).astype(np.int32)
for coder in (RangeCoder(), RansCoder()):
    assert np.array_equal(coder.decode(coder.encode(sym, table), table, 1000), sym)
    assert np.array_equal(coder.decode(coder.encode(psym, param), param, 1000), psym)
print(json.dumps({"import_s": t1 - t0, "first_coding_s": time.perf_counter() - t0}))
"""


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "unavailable"


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, thread CPU seconds, result) of one call."""
    w, c = time.perf_counter(), time.thread_time()
    out = fn()
    return time.perf_counter() - w, time.thread_time() - c, out


class Runner:
    """Collects repeated timings of named encode/decode pairs, interleaved across coders."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: dict[str, dict[str, Any]] = {}

    def run(self, name: str, encode: Callable[[], Any], decode: Callable[[Any], Any], nbytes: Callable[[Any], int],
            check: Callable[[Any], bool], **info: Any) -> None:
        row = self.rows.setdefault(name, {"enc_wall": [], "enc_cpu": [], "dec_wall": [], "dec_cpu": [], **info})
        ew, ec, data = timed(encode)
        dw, dc, out = timed(lambda: decode(data))
        if not check(out):
            raise AssertionError(f"{name}: decoded symbols differ")
        row["enc_wall"].append(ew)
        row["enc_cpu"].append(ec)
        row["dec_wall"].append(dw)
        row["dec_cpu"].append(dc)
        row["bytes"] = nbytes(data)

    def summary(self, ideal_bits: float) -> dict[str, dict[str, Any]]:
        out = {}
        for name, row in self.rows.items():
            s = {k: v for k, v in row.items() if not isinstance(v, list)}
            for key in ("enc_wall", "enc_cpu", "dec_wall", "dec_cpu"):
                s[f"{key}_msym"] = self.n / statistics.median(row[key]) / 1e6
            s["bits"] = 8 * row["bytes"]
            s["overhead_vs_float_pct"] = 100 * (8 * row["bytes"] / ideal_bits - 1)
            if "integer_bits" in s:
                s["overhead_vs_integer_pct"] = 100 * (8 * row["bytes"] / s["integer_bits"] - 1)
            out[name] = s
        return out


# ---------------------------------------------------------------------------- case (a)
def case_a(n: int, repeats: int, peers: dict[str, Any], torchac_n: int) -> dict[str, Any]:
    k = np.arange(256)
    pmf = np.exp(-np.abs(k - 128) / 3.9)
    pmf /= pmf.sum()
    entropy = float(-(pmf * np.log2(pmf)).sum())
    sym = np.random.default_rng(0).choice(256, size=n, p=pmf).astype(np.int32)
    ideal = float(-np.log2(pmf)[sym].sum())
    runner = Runner(n)
    models, build = {}, {}
    ProbabilityModel.from_pmf(pmf[::-1], precision=12)  # load the jitted construction before timing it
    for p in (16, 24):
        w, c, models[p] = timed(lambda p=p: ProbabilityModel.from_pmf(pmf, precision=p))
        build[f"codecframe p={p}"] = {"wall_s": w, "cpu_s": c}
    cs = peers.get("constriction")
    if cs is not None:
        w, c, cmodel = timed(lambda: cs.stream.model.Categorical(pmf, perfect=False))
        build["constriction"] = {"wall_s": w, "cpu_s": c}
    for _ in range(repeats):
        for p, model in models.items():
            info = model.information(sym)
            for coder in (RangeCoder(precision=p), RansCoder(precision=p)):
                runner.run(f"codecframe {coder.id} p={p}", lambda c=coder, m=model: c.encode(sym, m),
                           lambda d, c=coder, m=model: c.decode(d, m, n), len, lambda o: np.array_equal(o, sym),
                           integer_bits=info)
        if cs is not None:
            def cs_range_enc() -> bytes:
                enc = cs.stream.queue.RangeEncoder()
                enc.encode(sym, cmodel)
                return enc.get_compressed()

            def cs_ans_enc() -> bytes:
                enc = cs.stream.stack.AnsCoder()
                enc.encode_reverse(sym, cmodel)
                return enc.get_compressed()

            runner.run("constriction range", cs_range_enc,
                       lambda d: cs.stream.queue.RangeDecoder(d).decode(cmodel, n), lambda d: d.nbytes,
                       lambda o: np.array_equal(o, sym))
            runner.run("constriction ans", cs_ans_enc,
                       lambda d: cs.stream.stack.AnsCoder(d).decode(cmodel, n), lambda d: d.nbytes,
                       lambda o: np.array_equal(o, sym))
    result = {"n": n, "entropy_bits": entropy, "ideal_bits": ideal, "model_build": build,
              "rows": runner.summary(ideal)}
    tac = peers.get("torchac")
    if tac is not None:
        cdf = np.concatenate(([0.0], np.cumsum(pmf)))
        result["torchac"] = torchac_case(tac, sym[:torchac_n], lambda: np.broadcast_to(cdf, (torchac_n, 257)),
                                         float(-np.log2(pmf)[sym[:torchac_n]].sum()), repeats)
    return result


# ---------------------------------------------------------------------------- case (b)
def gaussian_ideal_bits(sym: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """-log2 of the float quantized Gaussian (outer bins absorb the tails), computed in log space."""
    lo, hi = SUPPORT
    a = np.where(sym <= lo, -np.inf, (sym - 0.5 - mean) / std)
    b = np.where(sym >= hi, np.inf, (sym + 0.5 - mean) / std)
    upper = a > 0  # use the upper tail where it is the accurate one: P = Phi(-a) - Phi(-b)
    x, y = np.where(upper, -b, a), np.where(upper, -a, b)
    lx, ly = log_ndtr(x), log_ndtr(y)
    log_p = ly + np.log1p(-np.exp(np.minimum(lx - ly, 0.0)))
    return float(-np.sum(log_p) / math.log(2))


def case_b(n: int, repeats: int, peers: dict[str, Any], torchac_n: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    mean = rng.uniform(-20, 20, n)
    std = rng.uniform(0.1, 10, n)
    sym = np.clip(np.rint(mean + std * rng.standard_normal(n)), *SUPPORT).astype(np.int32)
    ideal = gaussian_ideal_bits(sym, mean, std)
    runner = Runner(n)
    cs = peers.get("constriction")
    for _ in range(repeats):
        for p in (16, 24):
            info = ParametricModel("gaussian", mean, std, *SUPPORT, precision=p).information(sym)
            for coder in (RangeCoder(precision=p), RansCoder(precision=p)):
                runner.run(
                    f"codecframe {coder.id} p={p}",
                    lambda c=coder, p=p: c.encode(sym, ParametricModel("gaussian", mean, std, *SUPPORT, precision=p)),
                    lambda d, c=coder, p=p: c.decode(d, ParametricModel("gaussian", mean, std, *SUPPORT, precision=p), n),
                    len, lambda o: np.array_equal(o, sym), integer_bits=info)
        if cs is not None:
            family = cs.stream.model.QuantizedGaussian(*SUPPORT)

            def cs_range_enc() -> bytes:
                enc = cs.stream.queue.RangeEncoder()
                enc.encode(sym, family, mean, std)
                return enc.get_compressed()

            def cs_ans_enc() -> bytes:
                enc = cs.stream.stack.AnsCoder()
                enc.encode_reverse(sym, family, mean, std)
                return enc.get_compressed()

            runner.run("constriction range", cs_range_enc,
                       lambda d: cs.stream.queue.RangeDecoder(d).decode(family, mean, std), lambda d: d.nbytes,
                       lambda o: np.array_equal(o, sym))
            runner.run("constriction ans", cs_ans_enc,
                       lambda d: cs.stream.stack.AnsCoder(d).decode(family, mean, std), lambda d: d.nbytes,
                       lambda o: np.array_equal(o, sym))
    result = {"n": n, "ideal_bits": ideal, "rows": runner.summary(ideal)}
    tac = peers.get("torchac")
    if tac is not None:
        m, s, y = mean[:torchac_n], std[:torchac_n], sym[:torchac_n]

        def cdfs() -> np.ndarray:  # the float CDF of every symbol, built as torchac needs it (timed)
            edges = np.arange(SUPPORT[0], SUPPORT[1] + 1) - 0.5
            c = ndtr((edges[None, :] - m[:, None]) / s[:, None])
            c[:, 0] = 0.0
            return np.concatenate((c, np.ones((torchac_n, 1))), axis=1)

        result["torchac"] = torchac_case(tac, y - SUPPORT[0], cdfs, gaussian_ideal_bits(y, m, s), repeats)
    return result


def torchac_case(tac: Any, sym: np.ndarray, cdf: Callable[[], np.ndarray], ideal: float, repeats: int) -> dict[str, Any]:
    """torchac on a subset: it needs a float CDF row per symbol, which ``cdf()`` builds (timed, as for the others)."""
    import torch

    torch.set_num_threads(1)
    n = sym.size
    s16 = torch.from_numpy(sym.astype(np.int16))
    enc_t, dec_t = [], []
    for _ in range(repeats):
        w0 = time.perf_counter()
        c = torch.from_numpy(np.ascontiguousarray(cdf(), dtype=np.float32))
        data = tac.encode_float_cdf(c, s16, check_input_bounds=True)
        enc_t.append(time.perf_counter() - w0)
        w0 = time.perf_counter()
        c = torch.from_numpy(np.ascontiguousarray(cdf(), dtype=np.float32))
        out = tac.decode_float_cdf(c, data)
        dec_t.append(time.perf_counter() - w0)
        if not np.array_equal(out.numpy(), sym):
            raise AssertionError("torchac: decoded symbols differ")
    return {"n": n, "enc_wall_msym": n / statistics.median(enc_t) / 1e6,
            "dec_wall_msym": n / statistics.median(dec_t) / 1e6, "bits": 8 * len(data),
            "overhead_vs_float_pct": 100 * (8 * len(data) / ideal - 1)}


# ---------------------------------------------------------------------------- start-up
NUMBA_FLOOR = """
import time
t0 = time.perf_counter()
import numba
import trivial_kernel
trivial_kernel.f(1)
print(time.perf_counter() - t0)
"""


def startup(repeats: int) -> dict[str, Any]:
    """A fresh interpreter that loads the numba cache, then codes table and parametric data.

    Also measures numba's own floor in the same conditions: importing numba and calling one
    trivial cached function.
    """
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "trivial_kernel.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n")
        env = dict(os.environ, PYTHONPATH=tmp)
        subprocess.run([sys.executable, "-c", NUMBA_FLOOR], env=env, capture_output=True, check=True, timeout=300)
        runs = []
        for _ in range(repeats):
            w0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=True)
            wall = time.perf_counter() - w0
            floor = subprocess.run([sys.executable, "-c", NUMBA_FLOOR], env=env, capture_output=True, text=True,
                                   timeout=300, check=True)
            runs.append({"process_wall_s": wall, **json.loads(proc.stdout), "numba_floor_s": float(floor.stdout)})
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"runs": runs}


# ---------------------------------------------------------------------------- report
def ratio(rows: dict[str, Any], ours: str, peer: str, key: str) -> float | None:
    if ours in rows and peer in rows:
        return rows[ours][key] / rows[peer][key]
    return None


def report(results: dict[str, Any]) -> list[str]:
    lines = []
    for case in ("a", "b"):
        res = results[f"case_{case}"]
        rows = res["rows"]
        lines.append(f"\ncase ({case}): n = {res['n']:,}" + (f", entropy {res['entropy_bits']:.3f} bits" if case == "a" else ""))
        lines.append(f"{'coder':28s} {'enc cpu':>8s} {'dec cpu':>8s} {'enc wall':>9s} {'dec wall':>9s} "
                     f"{'vs int %':>9s} {'vs float %':>10s}")
        for name, r in rows.items():
            vs_int = f"{r['overhead_vs_integer_pct']:.4f}" if "overhead_vs_integer_pct" in r else "-"
            lines.append(f"{name:28s} {r['enc_cpu_msym']:8.1f} {r['dec_cpu_msym']:8.1f} {r['enc_wall_msym']:9.1f} "
                         f"{r['dec_wall_msym']:9.1f} {vs_int:>9s} {r['overhead_vs_float_pct']:10.4f}")
        if "torchac" in res:
            t = res["torchac"]
            lines.append(f"{'torchac (n=' + format(t['n'], ',') + ')':28s} {'-':>8s} {'-':>8s} {t['enc_wall_msym']:9.2f} "
                         f"{t['dec_wall_msym']:9.2f} {'-':>9s} {t['overhead_vs_float_pct']:10.4f}")
        for ours in ("codecframe range p=16", "codecframe range p=24"):
            for peer in ("constriction range", "constriction ans"):
                e, d = ratio(rows, ours, peer, "enc_cpu_msym"), ratio(rows, ours, peer, "dec_cpu_msym")
                if e is not None:
                    lines.append(f"  {ours} / {peer}: encode {e:.2f}x, decode {d:.2f}x (CPU time)")
    s = results["startup"]
    lines.append(f"\nsecond process (numba cache warm): imports {s['import_s']:.2f} s, first coding done "
                 f"{s['first_coding_s']:.2f} s after start of imports (numba's own floor, import + one trivial "
                 f"cached call: {s['numba_floor_s']:.2f} s), whole process {s['process_wall_s']:.2f} s")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10x fewer symbols (smoke test)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    peers: dict[str, Any] = {}
    notes = []
    try:
        import constriction

        peers["constriction"] = constriction
    except ImportError as exc:
        notes.append(f"constriction unavailable: {exc}")
    try:
        import torchac

        peers["torchac"] = torchac
    except Exception as exc:  # noqa: BLE001 - torchac builds a C++ extension on import; any failure is reported
        notes.append(f"torchac unavailable: {type(exc).__name__}: {exc}")
    # fill the numba cache the start-up measurement loads
    subprocess.run([sys.executable, "-c", CHILD], capture_output=True, check=True, timeout=600)
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "loadavg_start": loadavg()},
        "versions": {name: version(name) for name in ("numpy", "numba", *peers, *(["torch"] if "torchac" in peers else []))},
        "notes": notes,
    }
    results["case_a"] = case_a(10_000_000 // scale, args.repeats, peers, 50_000 // scale)
    results["case_b"] = case_b(1_000_000 // scale, args.repeats, peers, 50_000 // scale)
    results["startup"] = startup(3)
    results["machine"]["loadavg_end"] = loadavg()
    lines = report(results)
    print("\n".join(lines + [f"\nload: {results['machine']['loadavg_start']} -> {results['machine']['loadavg_end']}"] + notes))
    args.out.write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
