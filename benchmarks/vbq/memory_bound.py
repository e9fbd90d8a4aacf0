"""Peak RSS of ``codecframe image compress|decompress`` as whole processes on very wide and large images.

Each measurement is a fresh process (its ``VmHWM`` from ``/proc/self/status`` at exit: the peak of
the process image itself; ``ru_maxrss`` would start from the parent's RSS at exec), so
interpreter, imports and model load are included. ``--one-pass`` repeats the decompressions with
tiling switched off (``network.TILE_BYTES`` = 2^60), i.e. the single pass used before.

    python benchmarks/vbq/memory_bound.py --out benchmarks/vbq/memory_bound.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RUN = """
import sys
if sys.argv[1] == "one-pass":
    from codecframe_vbq.image import network
    network.TILE_BYTES = 1 << 60
from codecframe.cli.main import main
code = main(sys.argv[2:])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(code, int(hwm.split()[1]) // 1024)  # this process image's peak (ru_maxrss would include the parent's at exec)
"""


def _rss(mode: str, *args: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", RUN, mode, *args], capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.strip():
        raise SystemExit(f"{args}: failed\n{res.stderr}")
    code, mib = res.stdout.split()[-2:]
    assert code == "0", res.stderr
    return int(mib), time.perf_counter() - t0


def _image(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 7 + y) % 256, (x // 3 + 2 * y) % 256, (x // 1000 + y // 7) % 256], -1).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("benchmarks/vbq/memory_bound.json"))
    ap.add_argument("--shapes", nargs="+", default=["1x262144", "1x4194304", "4096x4096"], help="HxW")
    ap.add_argument("--one-pass", action="store_true", help="also decompress without tiles (the previous code path)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            h, w = map(int, shape.split("x"))
            png, cfr, out = Path(tmp, "in.png"), Path(tmp, "in.cfr"), Path(tmp, "out.png")
            Image.fromarray(_image(h, w)).save(png)
            row = {"shape": [h, w]}
            row["compress_mib"], row["compress_s"] = _rss("tiles", "image", "compress", str(png), "-o", str(cfr))
            row["file_bytes"] = cfr.stat().st_size
            row["decompress_mib"], row["decompress_s"] = _rss("tiles", "image", "decompress", str(cfr), "-o", str(out))
            if args.one_pass:
                row["decompress_one_pass_mib"], row["decompress_one_pass_s"] = _rss(
                    "one-pass", "image", "decompress", str(cfr), "-o", str(out))
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.write_text(json.dumps({"rows": rows, "loadavg": open("/proc/loadavg").read().split()[:3],
                                    "command": "python benchmarks/vbq/memory_bound.py " + " ".join(sys.argv[1:])}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
