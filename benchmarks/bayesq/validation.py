"""The validation data of the default-choosing scripts (tune, choices, scale_rule): training inputs
outside the calibration set, never the test set; and their result file."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch

from codecframe_bayesq.examples.data import text_windows


def split(name: str, ex: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Calibration inputs and a disjoint validation set (inputs, targets) from the training data."""
    if name == "tinylm":
        calib = ex.calibration(128, 0)
        xv, yv = text_windows(ex._train, 512, ex.model.context, torch.Generator().manual_seed(10_000))
        return calib, xv, yv
    perm = torch.randperm(ex._train.shape[0], generator=torch.Generator().manual_seed(0))
    calib, valid = ex._train[perm[:256]], ex._train[perm[256:]]
    return calib, valid, ex.model(valid).argmax(-1)


def avg_to_ceil(budget: float) -> float:
    """``quantize``'s ``posterior_scale`` (relative to the step at ``ceil(avg_bits)``) per unit of
    scale relative to the step at ``avg_bits``."""
    return (2.0 ** math.ceil(budget) - 1.0) / (2.0 ** budget - 1.0)


def write(path: Path, rows: list[dict[str, Any]], **extra: Any) -> None:
    """The result file: the command line, the load average, the rows and any summaries."""
    out = {"command": "python " + " ".join(sys.argv), "loadavg": os.getloadavg(), "rows": rows, **extra}
    path.write_text(json.dumps(out, indent=1))
