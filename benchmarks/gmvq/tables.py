"""Markdown table (mean ± std over seeds) and plot from the JSON of run.py.

    .venv/bin/python benchmarks/gmvq/tables.py benchmarks/gmvq/results.json --plot docs/gmvq-benchmark.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

COLUMNS = [
    ("mse_e3", "test MSE ×10⁻³", 2),
    ("perplexity", "perplexity", 1),
    ("utilization", "utilization", 3),
    ("posterior_entropy", "mean H(q(c|x)) nats", 2),
    ("coded_bits_per_image", "coded bits / image", 1),
    ("coded_bits_per_token", "coded bits / token", 3),
    ("train_seconds", "train wall s", 0),
]


def summarize(runs: list[dict]) -> dict[str, dict[str, tuple[float, float] | None]]:
    out: dict[str, dict[str, tuple[float, float] | None]] = {}
    for run in runs:
        out.setdefault(run["method"], {})
    for method in out:
        rows = [r for r in runs if r["method"] == method]
        for key, _, _ in COLUMNS:
            values = [r[key] for r in rows if r.get(key) is not None]
            out[method][key] = (float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0) if values else None
        out[method]["seeds"] = (len(rows), 0.0)
    return out


def markdown(summary: dict) -> str:
    head = "| method | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for method, stats in summary.items():
        cells = []
        for key, _, digits in COLUMNS:
            v = stats[key]
            cells.append("n/a" if v is None else f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for method in dict.fromkeys(r["method"] for r in runs):
        rows = [r for r in runs if r["method"] == method]
        x = [r["perplexity"] for r in rows]
        y = [r["mse_e3"] for r in rows]
        ax.errorbar(np.mean(x), np.mean(y), xerr=np.std(x, ddof=1), yerr=np.std(y, ddof=1), fmt="o", capsize=3, label=method)
        ax.scatter(x, y, s=8, alpha=0.4, color=ax.lines[-1].get_color() if ax.lines else None)
    ax.set_xlabel("codebook perplexity on test (C = 256)")
    ax.set_ylabel("test MSE ×10⁻³")
    ax.set_title("sklearn digits 8×8, L = 16, same encoder/decoder/steps")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args(argv)
    report = json.loads(args.results.read_text())
    print(markdown(summarize(report["runs"])))
    if args.plot:
        plot(report["runs"], args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
