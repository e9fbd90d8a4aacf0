"""Resumable, checkpointed training of the image VAE on the colour-augmented second split (issue 17).

    python -m codecframe_vbq.image.resumable --run-dir RUN --steps 200000 --seed 0 --hidden 128 --threads 1
    python -m codecframe_vbq.image.resumable --run-dir RUN --resume      # continue where it stopped
    python -m codecframe_vbq.image.resumable --run-dir RUN2 --init-from vae.safetensors \
        --likelihood-variance 0.0005 --lr 1e-4 --steps 12000             # fine-tune exported weights

``RUN/checkpoint.safetensors`` (:mod:`.checkpoint`) is rewritten atomically every
``--checkpoint-minutes`` of wall time, on SIGTERM/SIGINT and at the end; ``RUN/progress.jsonl``
gets one line every ``--log-every`` steps (step, loss parts, CPU and wall seconds) and the
per-image g(μ) PSNR of the validation images every ``--validate-every`` steps. Crops come from
:class:`.sampler.CropSampler` over :data:`.data.TRAIN_V2`. Adam at ``--lr`` until
``--decay-at`` × steps, then lr/10. A resumed run continues bit for bit as if it had not stopped
(same thread count); ``--steps`` may be raised on resume while the decay has not started, and
``--validate-every``, ``--checkpoint-minutes`` and ``--threads`` changed (a different thread
count changes the float rounding of the steps that follow, nothing else). ``--init-from`` starts a new
run (fresh Adam, step 0) from exported VAE weights, whose architecture it keeps; only the likelihood
variance may be changed. ``--tune-decoder TABLES`` (with ``--init-from`` the VAE those VBQ tables were
fitted for) trains the decoder alone on VBQ-quantized latents at λ log-uniform in ``--lambda-range``
(:mod:`.decoder_tuning`); the progress log then also gets the validation images' VBQ PSNR.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import time
from pathlib import Path

import numpy as np
import torch

from codecframe.assets import asset_ref, register_asset
from codecframe.errors import InputError
from codecframe.io import atomic_write

from . import data
from .architecture import UPSAMPLING
from .augment import Augmentation
from ..quantizer import VBQQuantizer
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .decoder_tuning import decoder_loss, vbq_validation_psnr
from .heldout import psnr, reconstruct
from .sampler import CropSampler
from .train import run_script
from .vae import ImageVAE, VAEConfig
from .weights import load_vae_file, save_vae

__all__ = ["RunSettings", "start", "run", "main", "CHECKPOINT", "PROGRESS"]

CHECKPOINT = "checkpoint.safetensors"
PROGRESS = "progress.jsonl"
#: VAEConfig fields set by flags of the same name (a new run only; --init-from keeps the weights').
_ARCHITECTURE = ("hidden", "latent", "nonlinearity", "layers", "stride", "upsampling")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """A run's fixed settings (stored in every checkpoint)."""

    seed: int = 0
    steps: int = 200_000
    batch: int = 8
    crop: int = 128
    lr: float = 1e-3
    decay_at: float = 0.8
    clip: float = 1.0
    threads: int = 1
    log_every: int = 100
    validate_every: int = 1000
    checkpoint_minutes: float = 10.0
    synthetic_weight: float = 3.0
    augmentation: Augmentation = Augmentation()
    #: sha256 reference of the VAE weights the run started from ("" for a random initialisation).
    init_from: str = ""
    #: sha256 reference of the VBQ tables whose quantized latents the decoder alone is tuned on ("": train
    #: the whole VAE on its ELBO).
    tune_decoder: str = ""
    #: λ range (log-uniform) of the decoder tuning.
    lambda_range: tuple[float, float] = (0.125, 32.0)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunSettings:
        aug = dict(d["augmentation"])
        aug["scale"] = tuple(aug["scale"])
        lambda_range = tuple(d.get("lambda_range", cls.lambda_range))
        return cls(**{**d, "augmentation": Augmentation(**aug), "lambda_range": lambda_range})


def start(config: VAEConfig, settings: RunSettings, state: dict[str, torch.Tensor] | None = None) -> Checkpoint:
    """Step 0 of a new run: seeded model (or ``state``, the weights it is fine-tuned from), fresh Adam,
    seeded numpy generator."""
    torch.manual_seed(settings.seed)
    model = ImageVAE(config)
    if state is not None:
        model.load_state_dict(state)
    return Checkpoint(model, torch.optim.Adam(model.parameters(), lr=settings.lr),
                      np.random.default_rng(settings.seed), 0, 0.0, 0.0, settings.to_dict())


def validation_psnr(model: ImageVAE, names: tuple[str, ...] = data.VALIDATION_V2) -> dict[str, float]:
    """g(μ) PSNR of each validation image (whole image), and their mean."""
    model.eval()
    rows = {}
    for name in names:
        image = data.load(name)
        rows[name] = psnr(image, reconstruct(model, image))
    model.train()
    rows["mean"] = float(np.mean(list(rows.values())))
    return rows


def run(ck: Checkpoint, run_dir: Path, stop_after_steps: int | None = None, log=print,
        sampler: CropSampler | None = None, validation: tuple[str, ...] = data.VALIDATION_V2,
        cpu_budget: float | None = None) -> Checkpoint:
    """Train ``ck`` on until its settings' ``steps`` (or ``stop_after_steps`` more, or until its
    training CPU seconds reach ``cpu_budget``), checkpointing into ``run_dir``; returns the final
    checkpoint (also written). CPU and wall seconds exclude the validation passes."""
    settings = RunSettings.from_dict(ck.settings)
    run_dir.mkdir(parents=True, exist_ok=True)
    sampler = sampler or CropSampler(data.TRAIN_V2, settings.crop, settings.augmentation, settings.synthetic_weight)
    progress = run_dir / PROGRESS
    _truncate_log(progress, ck.step)
    stop = {"now": False}

    def _stop(signum, frame):  # noqa: ARG001 - signal handler signature
        stop["now"] = True

    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    cpu0, wall0 = time.process_time() - ck.cpu_s, time.perf_counter() - ck.wall_s
    last_save = time.perf_counter()
    end = settings.steps if stop_after_steps is None else min(settings.steps, ck.step + stop_after_steps)
    model, opt = ck.model, ck.optimizer
    model.train()
    quantizer = None
    if settings.tune_decoder:  # the encoder gets no gradients, so Adam never steps it
        quantizer = VBQQuantizer(tables=settings.tune_decoder, channel_axis=0)
        model.encoder.requires_grad_(False)
    try:
        while ck.step < end and not stop["now"] and (cpu_budget is None or ck.cpu_s < cpu_budget):
            ck.step += 1
            lr = settings.lr if ck.step < int(settings.decay_at * settings.steps) else settings.lr / 10
            for group in opt.param_groups:
                group["lr"] = lr
            x = torch.from_numpy(sampler.sample(settings.batch, ck.rng))
            if quantizer is None:
                loss, parts = model.loss(x)
            else:
                loss, parts = decoder_loss(model, quantizer, x, ck.rng, settings.lambda_range)
            opt.zero_grad()
            loss.backward()
            if settings.clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
            opt.step()
            ck.cpu_s, ck.wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
            validate = bool(validation) and ck.step % settings.validate_every == 0
            if ck.step % settings.log_every == 0 or ck.step == end or validate:
                row = {"step": ck.step, "loss": float(loss.detach()), **parts, "lr": lr,
                       "cpu_s": round(ck.cpu_s, 2), "wall_s": round(ck.wall_s, 2)}
                if validate:
                    c, w = time.process_time(), time.perf_counter()
                    row["validation_gmu_psnr"] = validation_psnr(model, validation)
                    if quantizer is not None:
                        row["validation_vbq_psnr"] = vbq_validation_psnr(model, quantizer, validation)
                    cpu0 += time.process_time() - c
                    wall0 += time.perf_counter() - w
                _append(progress, row)
                log(json.dumps(row))
            if time.perf_counter() - last_save > 60 * settings.checkpoint_minutes:
                save_checkpoint(run_dir / CHECKPOINT, ck)
                last_save = time.perf_counter()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    save_checkpoint(run_dir / CHECKPOINT, ck)
    return ck


def _append(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Drop progress lines past ``step`` (written after the checkpoint a run resumes from)."""
    if not path.exists():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    keep = [ln for ln in lines if json.loads(ln)["step"] <= step]
    if len(keep) != len(lines):
        atomic_write(path, "".join(ln + "\n" for ln in keep).encode())


def export_weights(ck: Checkpoint, path: Path) -> None:
    """Write the checkpoint's model as VAE weights (:mod:`.weights`, what the codec loads)."""
    info = {"training": {"steps": ck.step, "cpu_s": ck.cpu_s, "wall_s": ck.wall_s, "settings": ck.settings,
                         "split": "v2"}}
    atomic_write(path, save_vae(ck.model, info))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, required=True)
    ap.add_argument("--resume", action="store_true", help="continue RUN/checkpoint.safetensors")
    ap.add_argument("--steps", type=int, default=None, help="total steps (default 200000; on resume: unchanged)")
    ap.add_argument("--stop-after", type=int, default=None, help="stop after this many more steps")
    ap.add_argument("--cpu-budget", type=float, default=None, help="stop once training has used this many CPU seconds")
    ap.add_argument("--export", type=Path, default=None, help="write the final model as VAE weights here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="default 1 (on resume: unchanged)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--checkpoint-minutes", type=float, default=None, help="default 10 (on resume: unchanged)")
    ap.add_argument("--validate-every", type=int, default=None, help="default 1000 (on resume: unchanged)")
    ap.add_argument("--hidden", type=int, default=None, help=f"default {VAEConfig.hidden}")
    ap.add_argument("--latent", type=int, default=None, help=f"default {VAEConfig.latent}")
    ap.add_argument("--nonlinearity", default=None, choices=("gdn", "relu"), help=f"default {VAEConfig.nonlinearity}")
    ap.add_argument("--likelihood-variance", type=float, default=None,
                    help=f"default {VAEConfig.likelihood_variance} (with --init-from: that of the weights)")
    ap.add_argument("--init-from", type=Path, default=None, metavar="WEIGHTS",
                    help="start from these exported VAE weights (their architecture; fine-tuning)")
    ap.add_argument("--layers", type=int, default=None, choices=(3, 4), help=f"default {VAEConfig.layers}")
    ap.add_argument("--stride", type=int, default=None, choices=(8, 16), help=f"default {VAEConfig.stride}")
    ap.add_argument("--upsampling", default=None, choices=UPSAMPLING, help=f"default {VAEConfig.upsampling}")
    ap.add_argument("--tune-decoder", type=Path, default=None, metavar="TABLES",
                    help="train the decoder alone on latents quantized with these VBQ tables (fitted for the "
                         "--init-from weights); on resume, give the same file again unless it is shipped")
    ap.add_argument("--lambda-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help=f"λ range of --tune-decoder, log-uniform (default {RunSettings.lambda_range})")
    args = ap.parse_args(argv)
    for name in ("steps", "validate_every", "threads", "batch", "crop"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    architecture = {k: getattr(args, k) for k in _ARCHITECTURE if getattr(args, k) is not None}
    if args.likelihood_variance is not None:
        architecture["likelihood_variance"] = args.likelihood_variance
    if args.lambda_range is not None and (args.tune_decoder is None or args.resume):
        ap.error("--lambda-range needs --tune-decoder, and a resumed run keeps its own")
    if args.lambda_range is not None and not 0 < args.lambda_range[0] <= args.lambda_range[1]:
        ap.error(f"--lambda-range needs 0 < LO <= HI, got {args.lambda_range}")
    tables_ref = None if args.tune_decoder is None else register_asset(args.tune_decoder)
    if args.resume:
        ck = load_checkpoint(args.run_dir / CHECKPOINT)
        if tables_ref is not None and tables_ref != ck.settings.get("tune_decoder"):
            ap.error(f"{args.tune_decoder} is not the tables this run tunes the decoder on")
        for key in ("steps", "checkpoint_minutes", "validate_every", "threads"):  # none changes what is trained
            if getattr(args, key) is not None:
                ck.settings = {**ck.settings, key: getattr(args, key)}
        torch.set_num_threads(int(ck.settings["threads"]))
    else:
        if (args.run_dir / CHECKPOINT).exists():
            ap.error(f"{args.run_dir / CHECKPOINT} exists: pass --resume to continue it")
        state, init_ref = None, ""
        if args.init_from is not None:
            given = [f"--{k}" for k in _ARCHITECTURE if k in architecture]
            if given:
                ap.error(f"--init-from keeps the weights' architecture; drop {', '.join(given)}")
            model, _, raw = load_vae_file(args.init_from)
            config = dataclasses.replace(model.config, **architecture)  # the likelihood variance, if given
            state, init_ref = model.state_dict(), asset_ref(raw)
        elif tables_ref is not None:
            ap.error("--tune-decoder needs --init-from, the weights its tables were fitted for")
        else:
            config = VAEConfig(**architecture)
        if tables_ref is not None:
            fitted_for = VBQQuantizer(tables=tables_ref, channel_axis=0).tables.info.get("vae")
            if fitted_for not in (None, init_ref):
                raise InputError(f"{args.tune_decoder} was fitted for the VAE {fitted_for}, not for {args.init_from}")
        settings = RunSettings(seed=args.seed, steps=args.steps or RunSettings.steps, batch=args.batch,
                               crop=args.crop, lr=args.lr, threads=args.threads or 1,
                               validate_every=args.validate_every or RunSettings.validate_every,
                               checkpoint_minutes=args.checkpoint_minutes or RunSettings.checkpoint_minutes,
                               init_from=init_ref, tune_decoder=tables_ref or "",
                               lambda_range=tuple(args.lambda_range or RunSettings.lambda_range))
        torch.set_num_threads(settings.threads)
        ck = start(config, settings, state)
    ck = run(ck, args.run_dir, args.stop_after, log=lambda s: print(s, flush=True), cpu_budget=args.cpu_budget)
    if args.export is not None:
        export_weights(ck, args.export)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_script(main, "codecframe_vbq.image.resumable"))
