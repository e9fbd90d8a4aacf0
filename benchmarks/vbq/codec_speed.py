"""Wall time to compress and decompress a 512×512 image with the shipped codec, model load included.

Three measurements, each the median of ``--repeats`` runs:
- ``cli``: the whole ``codecframe image compress|decompress`` process (interpreter start, imports,
  model and tables load, numba cache load, coding, file write);
- ``in_process_cold``: a fresh process timing only from the first codecframe_vbq import to the
  written file (imports of torch/numpy/codecframe, model load, coding);
- peer: the same process-level measurement for Pillow JPEG (quality 75) encode and decode.

    python benchmarks/vbq/codec_speed.py --out benchmarks/vbq/codec_speed.json

``--baseline-path DIR`` also times (interleaved, same runs) the CLI with DIR first on PYTHONPATH,
e.g. an older ``codecframe_vbq`` package exported with ``git archive``, and reports the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from codecframe_vbq.image import data

BIN = Path(sys.executable).parent
COLD = """
import sys, time
t = time.perf_counter()
from codecframe_vbq.image.cli import register  # noqa: F401  (what the CLI imports first)
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.files import read_image, write_png
from codecframe.io import atomic_write, read_bytes
if sys.argv[1] == "compress":
    atomic_write(sys.argv[3], ImageCodec().encode(read_image(sys.argv[2])[0], 1.0).data)
else:
    write_png(sys.argv[3], ImageCodec.decode(read_bytes(sys.argv[2]))[0])
print(time.perf_counter() - t)
"""
JPEG = """
import sys, io
from PIL import Image
if sys.argv[1] == "compress":
    Image.open(sys.argv[2]).convert("RGB").save(sys.argv[3], format="JPEG", quality=75)
else:
    Image.open(sys.argv[2]).convert("RGB").save(sys.argv[3], format="PNG")
"""


def _wall(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/codec_speed.json"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline-path", type=Path, default=None, help="PYTHONPATH entry holding a baseline codecframe_vbq")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vbq-speed-"))
    src = work / "astronaut.png"
    Image.fromarray(data.load("astronaut")).save(src)
    cli = str(BIN / "codecframe")
    env = dict(os.environ)
    rows: dict[str, list[float]] = {k: [] for k in ("cli_compress", "cli_decompress", "cold_compress", "cold_decompress",
                                                      "jpeg_compress_process", "jpeg_decompress_process")}
    base_env = None
    if args.baseline_path is not None:
        base_env = {**env, "PYTHONPATH": str(args.baseline_path.resolve())}
        rows.update(baseline_cli_compress=[], baseline_cli_decompress=[])
    load_before = open("/proc/loadavg").read().split()[:3]
    _wall([cli, "image", "compress", str(src), "-o", str(work / "warm.cfr")])  # fill the numba cache once
    if base_env is not None:
        _wall([cli, "image", "compress", str(src), "-o", str(work / "warm0.cfr")], base_env)
    for _ in range(args.repeats):
        rows["cli_compress"].append(_wall([cli, "image", "compress", str(src), "-o", str(work / "a.cfr"), "--lambda", "1"]))
        rows["cli_decompress"].append(_wall([cli, "image", "decompress", str(work / "a.cfr"), "-o", str(work / "a.png")]))
        if base_env is not None:
            rows["baseline_cli_compress"].append(_wall([cli, "image", "compress", str(src), "-o", str(work / "a0.cfr"),
                                                        "--lambda", "1"], base_env))
            rows["baseline_cli_decompress"].append(_wall([cli, "image", "decompress", str(work / "a0.cfr"), "-o",
                                                          str(work / "a0.png")], base_env))
        for mode, inp, out in (("compress", src, work / "b.cfr"), ("decompress", work / "a.cfr", work / "b.png")):
            res = subprocess.run([sys.executable, "-c", COLD, mode, str(inp), str(out)], check=True, capture_output=True,
                                 text=True, env=env)
            rows[f"cold_{mode}"].append(float(res.stdout.strip().splitlines()[-1]))
        rows["jpeg_compress_process"].append(_wall([sys.executable, "-c", JPEG, "compress", str(src), str(work / "c.jpg")]))
        rows["jpeg_decompress_process"].append(_wall([sys.executable, "-c", JPEG, "decompress", str(work / "c.jpg"), str(work / "c.png")]))
    result = {"image": "astronaut 512x512", "repeats": args.repeats,
              "median_s": {k: statistics.median(v) for k, v in rows.items()}, "all_s": rows,
              "cfr_bytes": (work / "a.cfr").stat().st_size, "loadavg_before": load_before,
              "loadavg_after": open("/proc/loadavg").read().split()[:3], "cpu_count": os.cpu_count(),
              "command": "python benchmarks/vbq/codec_speed.py " + " ".join(sys.argv[1:])}
    if base_env is not None:
        med = result["median_s"]
        result["baseline_path"] = str(args.baseline_path)
        result["ratio_to_baseline"] = {k: med[f"cli_{k}"] / med[f"baseline_cli_{k}"] for k in ("compress", "decompress")}
        result["same_file_as_baseline"] = (work / "a.cfr").read_bytes() == (work / "a0.cfr").read_bytes()
        result["same_png_as_baseline"] = (work / "a.png").read_bytes() == (work / "a0.png").read_bytes()
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["median_s"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
