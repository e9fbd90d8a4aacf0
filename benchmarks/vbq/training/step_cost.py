"""CPU seconds per training step of each explored architecture, measured fairly: all in one process,
one thread, interleaved round by round, on the same random batches (the exploration runs ran two at
a time on 2 cores, so their own per-step times are inflated by contention).

    python benchmarks/vbq/training/step_cost.py --steps 20 --rounds 3 --json benchmarks/vbq/training/step_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from codecframe_vbq.image.vae import ImageVAE, VAEConfig

#: The exploration runs' flags (benchmarks/vbq/training/explore/), as VAE configs.
CONFIGS = {
    "h128-gdn (stride 16, transposed)": VAEConfig(hidden=128, nonlinearity="gdn"),
    "h128-gdn-stride8": VAEConfig(hidden=128, nonlinearity="gdn", stride=8),
    "h128-gdn-lat64": VAEConfig(hidden=128, nonlinearity="gdn", latent=64),
    "h128-gdn-pixelshuffle": VAEConfig(hidden=128, nonlinearity="gdn", upsampling="pixelshuffle"),
    "h128-gdn-resize": VAEConfig(hidden=128, nonlinearity="gdn", upsampling="resize"),
    "h64-relu (the first shipped shape)": VAEConfig(hidden=64),
    "h192-gdn": VAEConfig(hidden=192, nonlinearity="gdn"),
    "h256-gdn": VAEConfig(hidden=256, nonlinearity="gdn"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per configuration and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    models = {name: ImageVAE(config) for name, config in CONFIGS.items()}
    opts = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    batches = [torch.rand(args.batch, 3, args.crop, args.crop) for _ in range(args.steps)]
    times: dict[str, list[float]] = {name: [] for name in models}

    def step(name: str, x: torch.Tensor) -> None:
        loss, _ = models[name].loss(x)
        opts[name].zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(models[name].parameters(), 1.0)
        opts[name].step()

    for name in models:  # warm-up
        step(name, batches[0])
    for r in range(args.rounds):
        for name in models:
            t0 = time.process_time()
            for x in batches:
                step(name, x)
            times[name].append((time.process_time() - t0) / args.steps)
        print(f"round {r + 1}/{args.rounds}", flush=True)
    result = {name: {"cpu_s_per_step_median": statistics.median(t), "rounds": t,
                     "params": sum(p.numel() for p in models[name].parameters())} for name, t in times.items()}
    base = result["h128-gdn (stride 16, transposed)"]["cpu_s_per_step_median"]
    for name, r in result.items():
        print(f"| {name} | {r['params'] / 1e6:.2f} M | {r['cpu_s_per_step_median']:.3f} | "
              f"{r['cpu_s_per_step_median'] / base:.2f}× |")
    if args.json:
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)}, "result": result},
                                        indent=1) + "\n")


if __name__ == "__main__":
    main()
