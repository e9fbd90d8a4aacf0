"""The second training of the image VAE (issue 17): data split, augmentation, crop sampling,
synthetic images, resumable checkpoints and the held-out measurements."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from codecframe.assets import asset_ref, register_asset
from codecframe.errors import AssetError, InputError

from codecframe_vbq.fit import fit_tables
from codecframe_vbq.image import data, heldout, resumable
from codecframe_vbq.image.augment import NONE, PERMUTATIONS, Augmentation, augment, recolour, rgb_to_ycbcr
from codecframe_vbq.image.checkpoint import load_checkpoint
from codecframe_vbq.image.codec import ImageCodec
from codecframe_vbq.image.latents import augmented_images, augmented_latents
from codecframe_vbq.image.sampler import CropSampler
from codecframe_vbq.image.synthetic import dead_leaves, hsv_to_rgb, hue_sweep
from codecframe_vbq.image.vae import ImageVAE, VAEConfig

TINY = VAEConfig(hidden=8, latent=4)


# ---------------------------------------------------------------- split
def test_splits_are_disjoint_and_colour_diverse():
    assert data.TRAIN_V1 == data.TRAIN and data.TEST_V1 == data.TEST and data.VALIDATION_V1 == data.VALIDATION
    assert not set(data.HELDOUT) & (set(data.TRAIN_V2) | set(data.VALIDATION_V2))
    assert not set(data.VALIDATION_V2) & set(data.TRAIN_V2)
    assert len(data.HELDOUT_PHOTOS) >= 6
    assert {"colorwheel", "hue_sweep"} <= set(data.HELDOUT)
    # dominant hue (of the saturated pixels) of each held-out photograph: green, blue and teal are present
    dominant = {}
    for name in data.HELDOUT_PHOTOS:
        rgb = data.load(name)[::4, ::4].reshape(-1, 3).astype(np.float64) / 255
        mx, mn = rgb.max(1), rgb.min(1)
        sat = (mx - mn) > 0.15
        ycc = rgb_to_ycbcr(rgb[sat])
        dominant[name] = float(np.degrees(np.arctan2(np.median(ycc[:, 2]), np.median(ycc[:, 1]))) % 360)
    # CbCr angles: green ≈ 200-250°, blue/teal ≈ 100-180°, red/orange ≈ 20-110°
    assert any(190 <= a <= 260 for a in dominant.values()), dominant
    assert sum(100 <= a < 190 for a in dominant.values()) >= 2, dominant


@pytest.mark.parametrize("name", data.HELDOUT + data.VALIDATION_V2 + data.TRAIN_V2[-8:])
def test_every_image_loads_as_rgb(name):
    img = data.load(name)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 256


# ---------------------------------------------------------------- augmentation
_crops = st.tuples(st.integers(1, 24), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[1]).random((t[0], t[0], 3)).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(_crops, st.integers(0, 2**32 - 1))
def test_augment_keeps_shape_range_and_is_seeded(crop, seed):
    out = augment(crop, Augmentation(), np.random.default_rng(seed))
    assert out.shape == crop.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(out, augment(crop, Augmentation(), np.random.default_rng(seed)))
    assert np.array_equal(augment(crop, NONE, np.random.default_rng(seed)), crop)


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1), st.floats(0, 2 * np.pi), st.floats(0.5, 1.5), st.integers(0, 5))
def test_recolour_leaves_greys_grey_and_identity_is_identity(grey, angle, sat, perm):
    img = np.full((4, 4, 3), grey, np.float32)
    assert np.allclose(recolour(img, angle, sat, PERMUTATIONS[perm]), img, atol=1e-6)
    rgb = np.random.default_rng(perm).random((5, 5, 3)).astype(np.float32)
    assert np.allclose(recolour(rgb, 0.0, 1.0, PERMUTATIONS[0]), rgb, atol=1e-5)


def test_hue_rotation_reaches_every_hue_band():
    """Rotating the chroma of one saturated red through many angles covers every 30° hue band."""
    red = np.array([[[0.8, 0.1, 0.1]]], np.float32)
    hues = []
    for angle in np.linspace(0, 2 * np.pi, 72, endpoint=False):
        r, g, b = recolour(red, angle, 1.0, PERMUTATIONS[0])[0, 0].astype(np.float64)
        hues.append(np.degrees(np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b)) % 360)
    assert set(np.floor(np.array(hues) / 30).astype(int)) == set(range(12))


# ---------------------------------------------------------------- sampling
def test_sampler_draws_per_image_not_per_area():
    """A 400×400 and a 40×40 image are drawn equally often; a gray one with its lower weight."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (400, 400, 3), np.uint8), rng.integers(0, 256, (40, 40, 3), np.uint8),
              rng.integers(0, 256, (64, 64, 3), np.uint8)]
    sampler = CropSampler(["big", "small", "camera"], 16, NONE, synthetic_weight=1.0, images=images)
    counts = np.bincount([sampler.draw(rng)[0] for _ in range(6000)], minlength=4)
    expect = sampler.probabilities * 6000
    assert np.allclose(sampler.probabilities, np.array([1, 1, 0.3, 1]) / 3.3)
    assert np.all(np.abs(counts - expect) < 5 * np.sqrt(expect)), (counts, expect)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([16, 32, 48]))
def test_sampler_crops_are_seeded_and_in_range(seed, size):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (80, 100, 3), np.uint8), rng.integers(0, 256, (50, 60, 3), np.uint8)]
    sampler = CropSampler(["a", "b"], size, Augmentation(), synthetic_weight=1.0, images=images)
    x = sampler.sample(3, np.random.default_rng(seed))
    assert x.shape == (3, 3, size, size) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.array_equal(x, sampler.sample(3, np.random.default_rng(seed)))


def test_synthetic_images_are_seeded_colourful_and_cover_the_image():
    a, b = dead_leaves(64, np.random.default_rng(3)), dead_leaves(64, np.random.default_rng(3))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert (a.max(2).astype(int) - a.min(2)).mean() > 40  # saturated colours
    sweep = hue_sweep()
    assert sweep.shape == (256, 768, 3)
    # the top row's hue runs through 360°: column 64k + 32 has hue 30k + 15 degrees
    top = sweep[0].astype(np.float64)
    for k in range(12):
        expect = hsv_to_rgb(np.array((30 * k + 15) / 360), np.array(1.0), np.array(0.95)) * 255
        assert np.abs(top[64 * k + 32] - expect).max() <= 3


# ---------------------------------------------------------------- resumable training
def _settings(**kw) -> resumable.RunSettings:
    return resumable.RunSettings(**{"steps": 4, "batch": 2, "crop": 32, "log_every": 1, "validate_every": 2,
                                    "checkpoint_minutes": 1e9, **kw})


def _sampler() -> CropSampler:
    rng = np.random.default_rng(5)
    return CropSampler(["a", "b"], 32, Augmentation(), synthetic_weight=1.0,
                       images=[rng.integers(0, 256, (70, 90, 3), np.uint8), rng.integers(0, 256, (40, 50, 3), np.uint8)])


def test_resume_continues_exactly(tmp_path):
    torch.set_num_threads(1)
    once = resumable.run(resumable.start(TINY, _settings()), tmp_path / "once", sampler=_sampler(),
                         validation=("rain-drops",))
    resumable.run(resumable.start(TINY, _settings()), tmp_path / "twice", 2, sampler=_sampler(),
                  validation=("rain-drops",))
    ck = load_checkpoint(tmp_path / "twice" / resumable.CHECKPOINT)
    assert ck.step == 2
    twice = resumable.run(ck, tmp_path / "twice", sampler=_sampler(), validation=("rain-drops",))
    assert once.step == twice.step == 4
    for (k, v), (k2, v2) in zip(once.model.state_dict().items(), twice.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    assert once.rng.bit_generator.state == twice.rng.bit_generator.state
    logs = [[json.loads(ln) for ln in (tmp_path / d / resumable.PROGRESS).read_text().splitlines()]
            for d in ("once", "twice")]
    assert [r["step"] for r in logs[1]] == [1, 2, 3, 4]
    assert [r["loss"] for r in logs[0]] == [r["loss"] for r in logs[1]]
    assert "validation_gmu_psnr" in logs[0][1] and "validation_gmu_psnr" not in logs[0][0]


def test_validation_is_logged_at_its_own_interval_not_only_on_log_steps(tmp_path):
    resumable.run(resumable.start(TINY, _settings(steps=6, log_every=4, validate_every=3)), tmp_path,
                  sampler=_sampler(), validation=("rain-drops",))
    rows = [json.loads(ln) for ln in (tmp_path / resumable.PROGRESS).read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 4, 6]
    assert ["validation_gmu_psnr" in r for r in rows] == [True, False, True]


@pytest.mark.parametrize("option", ["--validate-every", "--steps", "--batch"])
def test_resumable_refuses_a_non_positive_count(tmp_path, option, capsys):
    with pytest.raises(SystemExit) as exc:
        resumable.main(["--run-dir", str(tmp_path), option, "0"])
    assert exc.value.code == 2 and f"{option} must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / resumable.CHECKPOINT).exists()


def test_resume_drops_log_lines_past_the_checkpoint(tmp_path):
    resumable.run(resumable.start(TINY, _settings()), tmp_path, 2, sampler=_sampler(), validation=())
    with open(tmp_path / resumable.PROGRESS, "a") as fh:
        fh.write(json.dumps({"step": 3, "loss": 0.0}) + "\n")  # written after the checkpoint, then a crash
    resumable.run(load_checkpoint(tmp_path / resumable.CHECKPOINT), tmp_path, sampler=_sampler(), validation=())
    steps = [json.loads(ln)["step"] for ln in (tmp_path / resumable.PROGRESS).read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_cpu_budget_stops_the_run(tmp_path):
    ck = resumable.run(resumable.start(TINY, _settings(steps=10**6)), tmp_path, sampler=_sampler(), validation=(),
                       cpu_budget=0.0)
    assert ck.step == 0 and (tmp_path / resumable.CHECKPOINT).exists()


def test_checkpoint_is_safetensors_and_a_bad_one_is_refused(tmp_path):
    resumable.run(resumable.start(TINY, _settings()), tmp_path, 1, sampler=_sampler(), validation=())
    raw = (tmp_path / resumable.CHECKPOINT).read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert {"model/encoder.0.weight", "adam/0/exp_avg", "adam/0/exp_avg_sq", "adam/0/step", "rng/torch"} <= set(header)
    (tmp_path / "bad.safetensors").write_bytes(raw[:100])
    with pytest.raises(AssetError, match="not a readable training checkpoint"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_cli_refuses_to_overwrite_and_resumes(tmp_path, capsys):
    args = ["--run-dir", str(tmp_path), "--steps", "2", "--hidden", "8", "--latent", "4", "--crop", "32",
            "--batch", "1", "--validate-every", "1000"]
    assert resumable.main(args + ["--stop-after", "1"]) == 0
    with pytest.raises(SystemExit):
        resumable.main(args)
    assert resumable.main(["--run-dir", str(tmp_path), "--resume", "--export", str(tmp_path / "w.safetensors")]) == 0
    assert load_checkpoint(tmp_path / resumable.CHECKPOINT).step == 2
    model = heldout.load_model(tmp_path / "w.safetensors", None)
    assert model.config == TINY


def test_init_from_fine_tunes_exported_weights(tmp_path, capsys):
    """--init-from: a new run (step 0, fresh Adam) from exported weights, their architecture kept and
    only the likelihood variance changed; the weights' reference is recorded in the run's settings."""
    base = ["--crop", "32", "--batch", "1", "--validate-every", "1000"]
    assert resumable.main(["--run-dir", str(tmp_path / "a"), "--steps", "1", "--hidden", "8", "--latent", "4",
                           "--export", str(tmp_path / "w.safetensors"), *base]) == 0
    assert resumable.main(["--run-dir", str(tmp_path / "b"), "--steps", "3", "--init-from", str(tmp_path / "w.safetensors"),
                           "--likelihood-variance", "0.0005", "--stop-after", "0", *base]) == 0
    start = load_checkpoint(tmp_path / "b" / resumable.CHECKPOINT)
    weights = heldout.load_model(tmp_path / "w.safetensors", None)
    assert start.step == 0 and start.model.config == dataclasses.replace(TINY, likelihood_variance=0.0005)
    for (k, v), (k2, v2) in zip(weights.state_dict().items(), start.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    assert start.settings["init_from"] == asset_ref((tmp_path / "w.safetensors").read_bytes())
    assert resumable.main(["--run-dir", str(tmp_path / "b"), "--resume"]) == 0
    assert load_checkpoint(tmp_path / "b" / resumable.CHECKPOINT).step == 3
    with pytest.raises(SystemExit):  # an architecture flag would be silently ignored: refused
        resumable.main(["--run-dir", str(tmp_path / "c"), "--init-from", str(tmp_path / "w.safetensors"),
                        "--hidden", "16", *base])
    assert "drop --hidden" in capsys.readouterr().err and not (tmp_path / "c" / resumable.CHECKPOINT).exists()


def _tiny_tables(tmp_path, weights) -> Path:
    """VBQ tables for the TINY VAE in ``weights``, fitted on random crops' posteriors and recording it."""
    model = heldout.load_model(weights, None)
    x = torch.from_numpy(np.random.default_rng(0).random((4, 3, 64, 64), np.float32))
    with torch.no_grad():
        mean, std = model.encode(x)
    flat = [t.numpy().transpose(1, 0, 2, 3).reshape(TINY.latent, -1).astype(np.float64) for t in (mean, std)]
    path = tmp_path / "tables.safetensors"
    path.write_bytes(fit_tables(*flat, (0.5, 2.0), info={"vae": asset_ref(weights.read_bytes())}).to_bytes())
    return path


def test_tune_decoder_trains_the_decoder_alone_and_resumes_exactly(tmp_path, capsys):
    """--tune-decoder: the encoder stays bit for bit, the decoder moves, the VBQ PSNR of the validation
    image is logged, and a run stopped and resumed equals one run straight through."""
    torch.set_num_threads(1)
    base = ["--crop", "32", "--batch", "2", "--validate-every", "2", "--lr", "0.01"]
    assert resumable.main(["--run-dir", str(tmp_path / "a"), "--steps", "1", "--hidden", "8", "--latent", "4",
                           "--export", str(tmp_path / "w.safetensors"), *base]) == 0
    tables = _tiny_tables(tmp_path, tmp_path / "w.safetensors")
    tune = ["--init-from", str(tmp_path / "w.safetensors"), "--tune-decoder", str(tables), "--steps", "4",
            "--lambda-range", "0.5", "2", *base]
    assert resumable.main(["--run-dir", str(tmp_path / "once"), *tune, "--export", str(tmp_path / "t.safetensors")]) == 0
    assert resumable.main(["--run-dir", str(tmp_path / "twice"), *tune, "--stop-after", "2"]) == 0
    assert resumable.main(["--run-dir", str(tmp_path / "twice"), "--resume", "--tune-decoder", str(tables)]) == 0
    start = heldout.load_model(tmp_path / "w.safetensors", None).state_dict()
    once, twice = (load_checkpoint(tmp_path / d / resumable.CHECKPOINT) for d in ("once", "twice"))
    assert once.step == twice.step == 4 and once.settings["tune_decoder"] == asset_ref(tables.read_bytes())
    assert once.settings["lambda_range"] == [0.5, 2.0]
    for (k, v), (k2, v2) in zip(once.model.state_dict().items(), twice.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
        assert torch.equal(v, start[k]) == k.startswith("encoder."), k
    rows = [json.loads(ln) for ln in (tmp_path / "once" / resumable.PROGRESS).read_text().splitlines()]
    assert set(rows[1]["validation_vbq_psnr"]) == {"0.5", "2", "8"}
    assert 0 < rows[1]["validation_vbq_psnr"]["2"]["mean"] < 60
    # the tuned weights keep their encoder, so the codec takes the tables of the weights they started from
    tuned = ImageCodec(vae=register_asset(tmp_path / "t.safetensors"), tables=register_asset(tables))
    assert tuned.encoder_refs == {tuned.vae_ref, asset_ref((tmp_path / "w.safetensors").read_bytes())}
    tuned.check_tables()
    image = np.random.default_rng(1).integers(0, 256, (40, 56, 3), np.uint8)
    decoded, _ = ImageCodec.decode(tuned.encode(image, 1.0).data)
    assert decoded.shape == image.shape


def test_tune_decoder_refuses_tables_of_another_vae_and_a_range_alone(tmp_path, capsys):
    base = ["--crop", "32", "--batch", "1", "--validate-every", "1000", "--steps", "1"]
    for name in ("w", "v"):
        assert resumable.main(["--run-dir", str(tmp_path / name), "--hidden", "8", "--latent", "4", "--seed",
                               str(len(name) + ord(name)), "--export", str(tmp_path / f"{name}.safetensors"), *base]) == 0
    tables = _tiny_tables(tmp_path, tmp_path / "w.safetensors")
    with pytest.raises(InputError, match="was fitted for the VAE"):
        resumable.main(["--run-dir", str(tmp_path / "x"), "--init-from", str(tmp_path / "v.safetensors"),
                        "--tune-decoder", str(tables), *base])
    assert not (tmp_path / "x" / resumable.CHECKPOINT).exists()
    other = ImageCodec(vae=register_asset(tmp_path / "v.safetensors"), tables=register_asset(tables))
    with pytest.raises(InputError, match="fitted for the VAE"):  # an ordinary run's weights: its own tables only
        other.check_tables()
    with pytest.raises(SystemExit):
        resumable.main(["--run-dir", str(tmp_path / "y"), "--lambda-range", "1", "2", *base])
    assert "--lambda-range needs --tune-decoder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        resumable.main(["--run-dir", str(tmp_path / "z"), "--tune-decoder", str(tables), *base])
    assert "--tune-decoder needs --init-from" in capsys.readouterr().err


# ---------------------------------------------------------------- held-out measurements
def test_measurement_tool_on_a_tiny_model():
    torch.manual_seed(0)
    model = ImageVAE(TINY).eval()
    points = np.tile(np.linspace(-0.01, 0.01, 7), (TINY.latent, 1))
    result = heldout.measure(model, ("aqua", "hue_sweep"), points)
    aqua, sweep = result["images"]["aqua"], result["images"]["hue_sweep"]
    assert result["photo_mean_gmu_psnr"] == aqua["gmu_psnr"] < 30
    assert len(sweep["hue_bands"]) == 12 and 0 <= aqua["clamped"] <= 1
    assert aqua["channel_mean_shift"] > 0


def test_measurement_helpers():
    img = np.random.default_rng(0).integers(0, 256, (16, 24, 3), np.uint8)
    assert heldout.psnr(img, img) == float("inf")
    shifted = np.clip(img.astype(int) + [0, 3, 0], 0, 255).astype(np.uint8)
    assert 2.5 < heldout.channel_mean_shift(img, shifted) <= 3
    bands = heldout.hue_band_psnr(img, img)
    assert len(bands) == 12
    means = np.array([[-2.0, 0.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]])
    points = np.array([[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])
    assert heldout.clamped_fraction(means, points) == 2 / 8


def test_reconstruct_covers_any_size():
    torch.manual_seed(0)
    model = ImageVAE(TINY).eval()
    img = np.random.default_rng(0).integers(0, 256, (37, 21, 3), np.uint8)
    assert heldout.reconstruct(model, img).shape == img.shape


def test_augmented_latents_shapes():
    torch.manual_seed(0)
    model = ImageVAE(TINY).eval()
    means, stds = augmented_latents(model, ("rain-drops",), copies=2, synthetic=1)
    per_image = (320 // 16) * (512 // 16)
    assert means.shape == stds.shape == (TINY.latent, 3 * (per_image + (192 // 16) ** 2))  # each with 2 copies
    assert (stds > 0).all()


def test_augmented_images_are_the_originals_then_their_recoloured_copies():
    images = list(augmented_images(("rain-drops",), copies=2, synthetic=1))
    original = data.load("rain-drops")
    assert len(images) == 6 and all(im.dtype == np.uint8 and im.flags.c_contiguous for im in images)
    assert np.array_equal(images[0], original[:320, :512])
    assert images[1].shape == (320, 512, 3) and images[2].shape == (512, 320, 3)  # the second copy is transposed
    assert not np.array_equal(images[1], images[0])
    assert images[3].shape == (192, 192, 3)
    again = list(augmented_images(("rain-drops",), copies=2, synthetic=1))  # seeded: the same images again
    assert all(np.array_equal(a, b) for a, b in zip(images, again))


@pytest.mark.parametrize("script, args", [
    ("resumable", ["--resume"]),                                             # no checkpoint in the run folder
    ("resumable", ["--init-from", "{tmp}/garbage.safetensors"]),             # not weights
    ("build", ["--weights", "{tmp}/missing.safetensors", "--out-dir", "{tmp}/out"]),
    ("build", ["--weights", "{tmp}/garbage.safetensors", "--out-dir", "{tmp}/out"]),  # checked before it is copied
    ("heldout", ["--weights", "{tmp}/garbage.safetensors"]),
])
def test_training_scripts_report_unreadable_files_without_a_traceback(tmp_path, script, args):
    import subprocess
    import sys

    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 40)
    args = [a.format(tmp=tmp_path) for a in args]
    run_dir = ["--run-dir", str(tmp_path / "run")] if script == "resumable" else []
    done = subprocess.run([sys.executable, "-m", f"codecframe_vbq.image.{script}", *run_dir, *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.startswith(f"codecframe_vbq.image.{script}: error: ")
    assert str(tmp_path) in done.stderr  # the message names the file
    assert not (tmp_path / "out" / "image-vae.safetensors").exists()
