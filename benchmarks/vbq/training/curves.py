"""Ceiling against compute: validation g(μ) PSNR against training CPU time and steps, one curve per run.

    T=benchmarks/vbq/training
    python $T/curves.py $T/explore/* $T/long-h128-gdn $T/decay-probe $T/long-h128-gdn-stride8 \
        $T/finetune-v2-var5e-4 $T/finetune-v2-var2.5e-4 $T/finetune-v2-var2.5e-4-lr1e-3 $T/finetune-s8-var0.002 \
        $T/finetune-s8-var0.004 $T/long-h192-gdn $T/finetune-v2-lat64 $T/finetune-v2-lat64-var0.002 \
        $T/finetune-v3-lat64-long $T/finetune-v3-lat128 $T/finetune-v4-lat64-more $T/finetune-v3-lat128-var0.002 \
        $T/decoder-v4-vbq $T/decoder-v4-vbq-crop256 $T/decoder-v4-vbq-crop256-wide \
        --offset finetune-v2-var5e-4 29123 5149 \
        --offset finetune-v2-var2.5e-4 29123 5149 --offset finetune-v2-var2.5e-4-lr1e-3 29123 5149 \
        --offset finetune-s8-var0.002 7949 2008 --offset finetune-s8-var0.004 7949 2008 \
        --offset finetune-v2-lat64 29123 5149 --offset finetune-v2-lat64-var0.002 29123 5149 \
        --offset finetune-v3-lat64-long 39123 7669 --offset finetune-v3-lat128 39123 7669 \
        --offset finetune-v4-lat64-more 54123 11128 --offset finetune-v3-lat128-var0.002 54123 11404 \
        --offset decoder-v4-vbq 54123 11128 --offset decoder-v4-vbq-crop256 54123 11128 \
        --offset decoder-v4-vbq-crop256-wide 54123 11128 --md $T/curves.md --png $T/curves.png

Reads each run directory's ``progress.jsonl`` (:mod:`codecframe_vbq.image.resumable`). The first
table gives, at each CPU budget, the step reached and the mean validation PSNR of the last validation
at or before it (smoothed: the mean of the last three validations, to damp the noise of single
steps); the second the same smoothed PSNR at equal steps (runs that ran side by side share a core,
so their CPU seconds are inflated; steps are not). ``--offset RUN STEPS CPU_S`` shifts a run that
was started from another run's weights (``resumable --init-from``) by that run's steps and CPU
seconds, so that a fine-tune continues its base run's curve.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BUDGETS = (60, 120, 150, 240, 400, 480, 900, 1200, 1800, 3600, 7200)
STEPS = (1200, 2400, 3600, 4800, 6000, 9000, 12000, 24000)


def load(run: Path) -> list[dict]:
    rows = [json.loads(ln) for ln in (run / "progress.jsonl").read_text().splitlines() if ln.strip()]
    return [r for r in rows if "validation_gmu_psnr" in r]


def at(rows: list[dict], cpu: float, key: str = "cpu_s") -> tuple[int, float] | None:
    """(step, smoothed validation PSNR) at training CPU time ``cpu`` (or step, ``key="step"``); None if
    the run has not got there."""
    before = [r for r in rows if r[key] <= cpu]
    if not before or rows[-1][key] < cpu * 0.97:
        return None
    last = before[-3:]
    return before[-1]["step"], sum(r["validation_gmu_psnr"]["mean"] for r in last) / len(last)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--md", type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--offset", nargs=3, action="append", default=[], metavar=("RUN", "STEPS", "CPU_S"))
    args = ap.parse_args()
    runs = {r.name: load(r) for r in args.runs if (r / "progress.jsonl").exists()}
    for name, steps, cpu in args.offset:
        runs[name] = [{**r, "step": r["step"] + int(steps), "cpu_s": r["cpu_s"] + float(cpu)} for r in runs[name]]
    runs = {k: v for k, v in runs.items() if v}
    budgets = [b for b in BUDGETS if any(at(rows, b) for rows in runs.values())]
    lines = ["| run | " + " | ".join(f"{b} CPU-s" for b in budgets) + " | last: steps, CPU-h, PSNR |",
             "|---|" + "---|" * (len(budgets) + 1)]
    for name, rows in runs.items():
        cells = []
        for b in budgets:
            p = at(rows, b)
            cells.append(f"{p[1]:.2f} dB ({p[0]})" if p else "–")
        last = rows[-1]
        cells.append(f"{last['step']}, {last['cpu_s'] / 3600:.3f}, {last['validation_gmu_psnr']['mean']:.2f} dB")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    steps = [s for s in STEPS if any(at(rows, s, "step") for rows in runs.values())]
    lines += ["", "| run | " + " | ".join(f"step {s}" for s in steps) + " |", "|---|" + "---|" * len(steps)]
    for name, rows in runs.items():
        cells = [f"{p[1]:.2f} dB" if (p := at(rows, s, "step")) else "–" for s in steps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.md:
        args.md.write_text(table)
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
        colours = plt.get_cmap("tab20").colors
        for i, (name, rows) in enumerate(runs.items()):
            psnr = [r["validation_gmu_psnr"]["mean"] for r in rows]
            style = {"label": name, "color": colours[i % len(colours)], "linestyle": "-" if i < 10 else "--"}
            axes[0].plot([r["cpu_s"] / 3600 for r in rows], psnr, **style)
            axes[1].plot([r["step"] for r in rows], psnr, **style)
        axes[0].set_xlabel("training CPU-hours")
        axes[1].set_xlabel("steps")
        for ax in axes:
            ax.set_ylabel("validation g(μ) PSNR, dB (mean of 2 images)")
            ax.grid(alpha=0.3)
        axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
        fig.tight_layout()
        fig.savefig(args.png, dpi=90)


if __name__ == "__main__":
    main()
