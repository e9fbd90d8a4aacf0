"""``codecframe bayesq ...``: quantize a bundled example model to a .cfr file, and evaluate a file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from codecframe.io import read_bytes

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bayesq", help="BayesQ post-training weight quantization (bundled example models)")
    cmds = p.add_subparsers(dest="bayesq_command", metavar="SUBCOMMAND", required=True)

    q = cmds.add_parser("quantize", help="quantize a bundled example model and write a .cfr file")
    q.add_argument("model", choices=["mlp", "cnn", "tinylm"], help="bundled example model")
    q.add_argument("-o", "--output", type=Path, required=True, help="output .cfr file (written atomically)")
    q.add_argument("--avg-bits", type=float, default=3.5, help="average code bits per weight (default 3.5)")
    q.add_argument("--codebook", choices=["grid", "lloyd", "minmax"], default="grid")
    q.add_argument("--estimator", default="bayesq-diag", help="posterior estimator id (bayesq-diag, bayesq-kfac, bayesq-lowrank)")
    q.add_argument("--allowed-bits", default="2,3,4,5,6,8", help="comma-separated widths (default 2,3,4,5,6,8)")
    q.add_argument("--share", default="none", help="none | layer | aligned:K (rows sharing a width)")
    q.add_argument("--pin-first", type=int, default=None, help="width of the first layer")
    q.add_argument("--pin-last", type=int, default=None, help="width of the last layer")
    q.add_argument("--proxy-samples", type=int, default=None, help="Monte Carlo KL proxy with this many samples")
    q.add_argument("--distill-steps", type=int, default=None, help="calibration-only distillation steps")
    q.add_argument("--rounding", choices=["nearest", "gptq"], default="nearest")
    q.add_argument("--calibration", type=int, default=256, help="calibration samples (default 256)")
    q.add_argument("--coder", default="range", help="entropy coder id (range, rans)")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_quantize)

    e = cmds.add_parser("evaluate", help="load a .cfr file of a bundled model and compare it with the original")
    e.add_argument("input", type=Path)
    e.set_defaults(func=cmd_evaluate)


def _widths(text: str) -> tuple[int, ...]:
    from codecframe.errors import InputError

    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise InputError(f"--allowed-bits must be comma-separated integers, got {text!r}") from None


def cmd_quantize(args: argparse.Namespace) -> int:
    import torch

    from .api import quantize
    from .examples.zoo import load_example
    from .metrics import evaluate, log_probs

    torch.set_num_threads(1)
    ex = load_example(args.model)
    qm = quantize(ex.model, ex.calibration(args.calibration, args.seed), args.avg_bits,
                  estimator=args.estimator, codebook=args.codebook, allowed_bits=_widths(args.allowed_bits),
                  share=args.share, pin_first=args.pin_first, pin_last=args.pin_last,
                  proxy=None if args.proxy_samples is None else {"samples": args.proxy_samples},
                  distill_options=None if args.distill_steps is None else {"steps": args.distill_steps},
                  rounding=args.rounding, seed=args.seed, architecture=ex.architecture)
    sizes = qm.save(args.output, entropy_coder=args.coder)
    ref = log_probs(ex.model, ex.x_test)
    out: dict[str, Any] = {"file": str(args.output), **sizes, **evaluate(qm.model, ref, ex.x_test, ex.y_test),
                           "full_precision": [u.name for u in qm.unsupported],
                           "seconds": {k: round(v, 3) for k, v in qm.timings.items()}}
    print(json.dumps(out, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    import codecframe

    from .api import load
    from .examples.zoo import load_example
    from .metrics import evaluate, log_probs

    torch.set_num_threads(1)
    data = read_bytes(args.input)
    meta = codecframe.decode(data).meta.get("bayesq", {})
    arch = meta.get("architecture") or {}
    model = load(data)
    ex = load_example(str(arch.get("name")))
    ref = log_probs(ex.model, ex.x_test)
    print(json.dumps({"file": str(args.input), "code_bits_per_weight": meta.get("code_bits_per_weight"),
                      **evaluate(model, ref, ex.x_test, ex.y_test)}, indent=2))
    return 0
