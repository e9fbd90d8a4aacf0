"""Wall time to compress and decompress a 512×512 image with the shipped codec, model load included.

Three measurements, each the median of ``--repeats`` runs:
- ``cli``: the whole ``codecframe image compress|decompress`` process (interpreter start, imports,
  model and tables load, numba cache load, coding, file write);
- ``in_process_cold``: a fresh process timing only from the first codecframe_vbq import to the
  written file (imports of torch/numpy/codecframe, model load, coding);
- peer: the same process-level measurement for Pillow JPEG (quality 75) encode and decode.

    python benchmarks/vbq/codec_speed.py --out benchmarks/vbq/codec_speed.json
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


def _wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/codec_speed.json"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vbq-speed-"))
    src = work / "astronaut.png"
    Image.fromarray(data.load("astronaut")).save(src)
    cli = str(BIN / "codecframe")
    env = dict(os.environ)
    rows: dict[str, list[float]] = {k: [] for k in ("cli_compress", "cli_decompress", "cold_compress", "cold_decompress",
                                                      "jpeg_compress_process", "jpeg_decompress_process")}
    load_before = open("/proc/loadavg").read().split()[:3]
    _wall([cli, "image", "compress", str(src), "-o", str(work / "warm.cfr")])  # fill the numba cache once
    for _ in range(args.repeats):
        rows["cli_compress"].append(_wall([cli, "image", "compress", str(src), "-o", str(work / "a.cfr"), "--lambda", "1"]))
        rows["cli_decompress"].append(_wall([cli, "image", "decompress", str(work / "a.cfr"), "-o", str(work / "a.png")]))
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
              "command": "python benchmarks/vbq/codec_speed.py"}
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["median_s"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
