"""The encoder-side choices of the shipped tables: the σ calibration σ_eff = s_c·(σ/s_c)^α (limits,
round trips, tables, the quantizer that applies it, the image codec) and the prior span and power of the grid."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import codecframe
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import ConfigError, InputError

from codecframe_vbq.calibration import INFO_KEY, SigmaCalibration, fit_calibrated_tables
from codecframe_vbq.fit import fit_tables
from codecframe_vbq.prior import empirical_points
from codecframe_vbq.image import data
from codecframe_vbq.image.build import PRIOR_POWER, SIGMA_ALPHA
from codecframe_vbq.image.codec import META_KEY, ImageCodec
from codecframe_vbq.image.shipped import RAW_SIGMA_TABLES_REF, TABLES_REF, TABLES_V2_REF, VAE_V2_REF
from codecframe_vbq.quantizer import VBQQuantizer, use_tables
from codecframe_vbq.tables import VBQTables


def _latents(seed: int = 0, channels: int = 3, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((channels, n)), np.exp(rng.normal(-1.5, 0.8, (channels, n)))


@pytest.mark.nojit
def test_alpha_one_is_raw_sigma_and_alpha_zero_is_the_channel_mean():
    _, sd = _latents()
    std = sd.reshape(3, 40, 100).astype(np.float32)
    one, zero = SigmaCalibration.from_training(sd, 1.0), SigmaCalibration.from_training(sd, 0.0)
    assert one.apply(std) is std
    expected = np.broadcast_to(sd.mean(axis=1)[:, None, None], std.shape).astype(np.float32)
    assert zero.apply(std).tobytes() == expected.tobytes()


@settings(max_examples=60, deadline=None)
@given(alpha=st.floats(0.0, 1.0), log_sd=st.lists(st.floats(-8, 3), min_size=2, max_size=20),
       log_s=st.floats(-5, 1))
def test_tempered_sigma_lies_between_sigma_and_the_channel_mean_and_keeps_its_order(alpha, log_sd, log_s):
    std = np.exp(np.array(log_sd))[None, :]
    s = float(np.exp(log_s))
    eff = SigmaCalibration(alpha, (s,)).apply(std)[0]
    lo, hi = np.minimum(std[0], s), np.maximum(std[0], s)
    assert np.all(eff >= lo * (1 - 1e-12)) and np.all(eff <= hi * (1 + 1e-12))
    order = np.argsort(std[0], kind="stable")
    assert np.all(np.diff(eff[order]) >= 0)


@pytest.mark.nojit
def test_config_round_trip_and_bad_values():
    cal = SigmaCalibration(0.5, (0.1, 0.2))
    assert SigmaCalibration.from_dict(cal.to_dict()) == cal
    for bad in ({"alpha": float("nan"), "channel_mean": [0.1]}, {"alpha": -1.1, "channel_mean": [0.1]},
                {"alpha": True, "channel_mean": [0.1]}, {"alpha": 0.5, "channel_mean": []},
                {"alpha": 0.5, "channel_mean": [0.0]}, {"alpha": 0.5, "channel_mean": [1, 2]},
                {"alpha": 0.5, "channel_mean": "x"}, {"alpha": 0.5}, {"alpha": 0.5, "channel_mean": [0.1], "x": 1}):
        with pytest.raises(ConfigError):
            SigmaCalibration.from_dict(bad)
    with pytest.raises(ConfigError, match="3 channels"):
        SigmaCalibration(0.5, (0.1, 0.2, 0.3)).apply(np.ones((2, 4)))


def test_calibrated_tables_record_the_calibration_and_match_a_direct_fit():
    mu, sd = _latents()
    cal = SigmaCalibration.from_training(sd, 0.5)
    tables = fit_calibrated_tables(mu, sd, cal, (0.1, 1.0), 6)
    direct = fit_tables(mu, cal.apply(sd), (0.1, 1.0), 6)
    assert np.array_equal(tables.hist, direct.hist) and np.array_equal(tables.lengths, direct.lengths)
    again = VBQTables.from_bytes(tables.to_bytes())
    assert SigmaCalibration.from_dict(again.info[INFO_KEY]) == cal
    raw = fit_calibrated_tables(mu, sd, None, (0.1, 1.0), 6)
    assert INFO_KEY not in raw.info and np.array_equal(raw.hist, fit_tables(mu, sd, (0.1, 1.0), 6).hist)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return np.ascontiguousarray(data.load("astronaut")[40:104, 200:280])


def _without_calibration(tables: VBQTables) -> str:
    """The same tables with nothing recorded in their info (searched with raw σ)."""
    return use_tables(dataclasses.replace(tables, info={k: v for k, v in tables.info.items() if k != INFO_KEY}))


@settings(max_examples=15, deadline=None)
@given(alpha=st.sampled_from([0.0, 0.5, 1.0]), axis=st.integers(-3, 2), seed=st.integers(0, 2**16))
def test_the_quantizer_searches_with_the_recorded_calibration_along_its_channel_axis(alpha, axis, seed):
    mu, sd = _latents(seed % 7, channels=3, n=600)
    cal = SigmaCalibration.from_training(sd, alpha)
    tables = fit_calibrated_tables(mu, sd, cal, (0.1, 1.0), 6)
    rng = np.random.default_rng(seed)
    shape = [4, 5, 6]
    shape[axis] = 3
    mean = rng.standard_normal(shape).astype(np.float32)
    std = np.exp(rng.normal(-1.5, 0.8, shape)).astype(np.float32)
    eff = np.moveaxis(cal.apply(np.moveaxis(std, axis, 0)), 0, axis)  # the direct computation
    calibrated = VBQQuantizer(tables=use_tables(tables), channel_axis=axis, r_max=6)
    raw = VBQQuantizer(tables=_without_calibration(tables), channel_axis=axis, r_max=6)
    assert calibrated.calibration == cal and raw.calibration is None
    for lam in (0.1, 1.0):
        got = calibrated.quantize(GaussianPosterior(mean=mean, std=std), {"lambda": lam})
        want = raw.quantize(GaussianPosterior(mean=mean, std=eff), {"lambda": lam})
        assert np.array_equal(got.symbols, want.symbols)
    post = GaussianPosterior(mean=mean, std=std)
    recon = calibrated.dequantize(got)
    assert calibrated.distortion(post, recon) == pytest.approx(raw.distortion(GaussianPosterior(mean=mean, std=eff), recon))


@pytest.mark.nojit
def test_a_posterior_with_other_channels_than_the_calibration_is_refused():
    mu, sd = _latents(channels=3, n=300)
    ref = use_tables(fit_calibrated_tables(mu, sd, SigmaCalibration.from_training(sd, 0.0), (1.0,), 4))
    post = GaussianPosterior(mean=np.zeros((2, 5)), std=np.ones((2, 5)))
    with pytest.raises(InputError, match="3 channels"):
        VBQQuantizer(tables=ref, channel_axis=0, r_max=4).quantize(post, {"lambda": 1.0})


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return np.ascontiguousarray(data.load("astronaut")[40:104, 200:280])


def test_a_pipeline_built_from_config_with_the_shipped_tables_writes_the_codecs_bytes(crop):
    """The calibration lives in the quantizer: the codec adds nothing a config-built pipeline lacks."""
    codec = ImageCodec()
    post = codec.posterior(crop)
    meta = {META_KEY: {"height": crop.shape[0], "width": crop.shape[1], "vae": codec.vae_ref}}
    for lam in (0.3, 3.0):
        pipe = codecframe.Pipeline.from_config({
            "quantizer": {"id": "vbq", "tables": TABLES_REF, "channel_axis": 0},
            "allocator": {"id": "fixed", "setting": {"lambda": lam}},
            "entropy_coder": {"id": "range", "precision": 24}})
        assert pipe.encode({"latent": post}, meta=meta) == codec.encode_posterior(post, crop.shape[:2], lam)


def test_second_model_tables_search_with_the_channel_mean_and_decoding_ignores_it(crop):
    """The second model's tables record α = 0 (the third model's record none: raw σ won on validation)."""
    codec = ImageCodec(vae=VAE_V2_REF, tables=TABLES_V2_REF)
    recorded = codec.quantizer.tables.info.get(INFO_KEY)
    assert recorded is not None and codec.quantizer.calibration == SigmaCalibration.from_dict(recorded)
    assert codec.quantizer.calibration.alpha == SIGMA_ALPHA == 0.0
    post = codec.posterior(crop)
    s = np.array(codec.quantizer.calibration.channel_mean)
    const = GaussianPosterior(mean=post.mean, std=np.broadcast_to(s[:, None, None], post.std.shape).astype(np.float32))
    raw = VBQQuantizer(tables=_without_calibration(codec.quantizer.tables), channel_axis=0)
    q = codec.quantizer.quantize(post, {"lambda": 1.0})
    assert np.array_equal(q.symbols, raw.quantize(const, {"lambda": 1.0}).symbols)
    data_bytes = codec.encode_posterior(post, crop.shape[:2], 1.0)
    assert codecframe.decode(data_bytes).arrays["latent"].tobytes() == codec.quantizer.dequantize(q).tobytes()
    restored, _ = ImageCodec.decode(data_bytes)
    assert restored.shape == crop.shape


def test_tables_without_a_calibration_search_with_raw_sigma():
    mu, sd = _latents(channels=32, n=500)
    ref = use_tables(fit_calibrated_tables(mu, sd, None, (1.0,), 10))
    assert ImageCodec(tables=ref).quantizer.calibration is None
    assert ImageCodec(tables=RAW_SIGMA_TABLES_REF).quantizer.calibration is None
    assert ImageCodec().quantizer.calibration is None and INFO_KEY not in ImageCodec().quantizer.tables.info


@pytest.mark.nojit
@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=300), r_max=st.integers(0, 8))
def test_full_span_grid_reaches_the_extremes_and_keeps_the_median(values, r_max):
    v = np.array(values)
    full, paper = empirical_points(v, r_max, "full"), empirical_points(v, r_max)
    if r_max > 0:  # with one point both spans give the median
        assert full[0] == v.min() and full[-1] == v.max()
    assert np.all(np.diff(full) >= 0)
    assert full[full.size // 2] == paper[paper.size // 2] == np.quantile(v, 0.5)
    assert full[0] <= paper[0] and full[-1] >= paper[-1]


def test_prior_span_is_recorded_and_checked():
    mu, sd = _latents()
    assert fit_tables(mu, sd, (1.0,), 6, prior_span="full").info["prior_span"] == "full"
    assert "prior_span" not in fit_tables(mu, sd, (1.0,), 6).info
    with pytest.raises(InputError, match="span"):
        fit_tables(mu, sd, (1.0,), 6, prior_span="wide")
    assert ImageCodec().quantizer.tables.info["prior_span"] == "full"
    assert fit_tables(mu, sd, (1.0,), 6, prior_power=0.5).info["prior_power"] == 0.5
    assert "prior_power" not in fit_tables(mu, sd, (1.0,), 6).info
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(InputError, match="power"):
            fit_tables(mu, sd, (1.0,), 6, prior_power=bad)
    assert ImageCodec().quantizer.tables.info["prior_power"] == PRIOR_POWER


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=300), r_max=st.integers(1, 8),
       power=st.floats(0.0, 1.0), span=st.sampled_from(["quantile", "full"]))
@example(values=[-1.0, 2.225073858507e-311], r_max=3, power=0.5, span="full")  # interpolation rounded the end off
def test_flattened_prior_points_are_ordered_within_the_training_range(values, r_max, power, span):
    v = np.array(values)
    pts = empirical_points(v, r_max, span, power)
    assert pts.shape == (2 ** (r_max + 1) - 1,) and np.all(np.diff(pts) >= 0)
    assert pts[0] >= v.min() and pts[-1] <= v.max()
    if span == "full":
        assert pts[0] == v.min() and pts[-1] == v.max()


@pytest.mark.nojit
def test_prior_power_interpolates_between_the_empirical_quantiles_and_even_spacing():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(50_000)
    k = np.arange(2047) / 2046
    assert np.array_equal(empirical_points(v, 10, "full", 1.0), np.quantile(v, k, method="linear"))
    even = np.linspace(0.0, 1.0, 100_001)  # every histogram bin occupied, so power 0 spaces points evenly
    assert np.allclose(empirical_points(even, 10, "full", 0.0), np.linspace(0.0, 1.0, 2047), rtol=0, atol=1e-12)
    tails = [np.ptp(empirical_points(v, 10, "full", p)[[1, 2]]) for p in (1.0, 0.5, 0.2)]
    assert tails[0] > tails[1] > tails[2]  # flatter prior: finer tails
