"""Seeded training of the example models; writes safetensors with the architecture in the metadata.

    python -m codecframe_bayesq.examples.train mlp --seed 0 --out plugins/bayesq/codecframe_bayesq/assets

Runs on one CPU thread (``torch.set_num_threads(1)``) so that results do not depend on the core count.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from .data import VOCAB, digits, digits_images, text_corpus, text_windows
from .models import build

__all__ = ["train", "RECIPES"]

#: Architecture options and optimiser settings of each shipped model.
RECIPES: dict[str, dict[str, Any]] = {
    "mlp": {"options": {"sizes": [64, 256, 256, 10]}, "steps": 3000, "batch": 64, "lr": 1e-3, "wd": 1e-4},
    "cnn": {"options": {}, "steps": 3000, "batch": 64, "lr": 1e-3, "wd": 1e-4},
    "tinylm": {"options": {"vocab": len(VOCAB) + 1, "context": 64, "d": 64, "heads": 4, "ffn": 256, "layers": 2},
               "steps": 6000, "batch": 32, "lr": 3e-3, "wd": 1e-2},
}


def train(name: str, seed: int = 0, steps: int | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train example ``name`` from ``seed``; returns the model and a metadata dict."""
    recipe = RECIPES[name]
    steps = recipe["steps"] if steps is None else steps
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(name, recipe["options"])
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["wd"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    if name == "tinylm":
        data = text_corpus(recipe["options"]["context"])
    else:
        data = digits_images() if name == "cnn" else digits()
    t0 = time.perf_counter()
    model.train()
    for _ in range(steps):
        if name == "tinylm":
            x, y = text_windows(data.x_train, recipe["batch"], recipe["options"]["context"], gen)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        else:
            idx = torch.randint(0, len(data.y_train), (recipe["batch"],), generator=gen)
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        logits = model(data.x_test)
        nll = float(F.cross_entropy(logits.flatten(0, -2), data.y_test.flatten()))
        acc = float((logits.argmax(-1) == data.y_test).float().mean())
    meta = {"architecture": name, "options": recipe["options"], "seed": seed, "steps": steps,
            "train_seconds": round(time.perf_counter() - t0, 1), "test_nll": round(nll, 4), "test_accuracy": round(acc, 4),
            "command": f"python -m codecframe_bayesq.examples.train {name} --seed {seed}"}
    return model, meta


def save(model: torch.nn.Module, meta: dict[str, Any], path: Path) -> None:
    """Write weights (float32) and ``meta`` (JSON strings) as safetensors."""
    tensors = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={k: json.dumps(v) for k, v in meta.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "assets")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, meta = train(args.name, args.seed, args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name}.safetensors"
    save(model, meta, path)
    print(json.dumps({"path": str(path), **meta}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
