"""Are two training checkpoints the same computation? Step, every model tensor and every Adam moment.

    python benchmarks/vbq/training/compare_checkpoints.py \
        58b6bc0:benchmarks/vbq/training/long-h128-gdn/checkpoint.safetensors \
        benchmarks/vbq/training/reproduce-v2/checkpoint.safetensors

Each argument is a checkpoint file or ``COMMIT:PATH`` (read with ``git show`` from this repository).
Exit status 0 when step, model and optimizer state are bit-identical, 1 otherwise. CPU and wall
seconds are not compared (they differ between any two runs). ``--logs RUN REFERENCE...`` also
compares the logged training rows (loss, KL, MSE, lr every 100 steps) of progress log RUN with those
of the reference logs (later ones win for a step they share).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from codecframe_vbq.image.checkpoint import Checkpoint, load_checkpoint


def load(spec: str) -> Checkpoint:
    if Path(spec).is_file():
        return load_checkpoint(Path(spec))
    raw = subprocess.run(["git", "show", spec], capture_output=True, check=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
        fh.write(raw)
        fh.flush()
        return load_checkpoint(Path(fh.name))


def differences(a: Checkpoint, b: Checkpoint) -> dict[str, list]:
    ma, mb = a.model.state_dict(), b.model.state_dict()
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    return {"model": [k for k in ma if k not in mb or not torch.equal(ma[k], mb[k])],
            "adam": [(i, k) for i in sa for k in sa[i]
                     if i not in sb or not torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i].get(k)))]}


def log_rows(paths: list[Path]) -> dict[int, tuple]:
    rows: dict[int, tuple] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["step"]] = (r["loss"], r["kl_bpp"], r["mse"], r["lr"])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--logs", type=Path, nargs="+", default=None, metavar="LOG", help="RUN REFERENCE...")
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    diff = differences(a, b)
    print(f"steps {a.step} / {b.step}; model tensors differing {len(diff['model'])} of {len(a.model.state_dict())} "
          f"{diff['model'][:5]}; Adam entries differing {len(diff['adam'])}")
    same = a.step == b.step and not diff["model"] and not diff["adam"]
    if args.logs:
        run, ref = log_rows(args.logs[:1]), log_rows(args.logs[1:])
        common = sorted(set(run) & set(ref))
        differing = [s for s in common if run[s] != ref[s]]
        print(f"logged steps identical: {len(common) - len(differing)} of {len(common)} (steps {common[0] if common else '-'}"
              f"–{common[-1] if common else '-'}); first differing: {differing[0] if differing else None}")
        same = same and not differing
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
