"""Demo hook (``codecframe.demos``): quantize the bundled MLP and CNN to real .cfr files and read them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from codecframe.io import read_bytes

__all__ = ["run"]


def run(workdir: Path) -> list[dict[str, Any]]:
    """Write ``<model>-<bits>bit.cfr`` files, load them back, and report bits and KL/accuracy."""
    from .api import load, quantize
    from .examples.zoo import load_example
    from .metrics import evaluate, log_probs

    torch.set_num_threads(1)
    rows = []
    for name, bits in (("mlp", 3.0), ("cnn", 3.0), ("mlp", 2.5)):
        ex = load_example(name)
        qm = quantize(ex.model, ex.calibration(256), bits, architecture=ex.architecture)
        path = Path(workdir) / f"bayesq-{name}-{bits:g}bit.cfr"
        qm.save(path)
        model = load(read_bytes(path))
        m = evaluate(model, log_probs(ex.model, ex.x_test), ex.x_test, ex.y_test)
        nbits = 8 * path.stat().st_size
        rows.append({"plugin": "bayesq", "case": f"{name} digits @ {bits:g} code bits/weight",
                     "bits": nbits, "bits_per_element": round(nbits / qm.n_weights, 4),
                     "distortion": f"KL {m['kl']:.4f}, acc {100 * m['accuracy']:.1f}%"})
    return rows
