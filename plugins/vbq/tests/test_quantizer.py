"""The vbq quantizer: contracts, round trips through coders and containers, tables, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import codecframe
from codecframe.assets import register_asset
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.coders.range import RangeCoder
from codecframe.errors import AssetError, CodecframeError, ConfigError, FormatError, InputError
from codecframe.testing import check_config, check_quantizer

from codecframe_vbq import grid, quantizer as qmod
from codecframe_vbq.fit import fit_tables
from codecframe_vbq.quantizer import VBQQuantizer
from codecframe_vbq.tables import VBQTables


def _posterior(seed: int, shape=(4, 16, 16), scale=1.0) -> GaussianPosterior:
    rng = np.random.default_rng(seed)
    mean = (rng.standard_normal(shape) * scale).astype(np.float32)
    std = np.exp(rng.normal(-1.0, 0.7, shape)).astype(np.float32)
    return GaussianPosterior(mean=mean, std=std)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> VBQQuantizer:
    """A quantizer fitted on 8 training posteriors with 4 channels, its tables registered as an asset."""
    q = VBQQuantizer(channel_axis=0, lambdas=(0.1, 0.3, 1.0, 3.0, 10.0, 1e4))
    q.fit([_posterior(s) for s in range(8)])
    path = tmp_path_factory.mktemp("tables") / "vbq-test.safetensors"
    assert q.save_tables(str(path)) == register_asset(path) == q.config.tables
    return q


def _pipeline(quantizer, lam, precision=24):
    return codecframe.Pipeline(quantizer=quantizer, allocator={"id": "fixed", "setting": {"lambda": lam}},
                               entropy_coder={"id": "range", "precision": precision})


def test_contracts():
    check_config(VBQQuantizer)
    check_quantizer(VBQQuantizer, coders=[RangeCoder(), RangeCoder(precision=24)])


@pytest.mark.nojit
@pytest.mark.parametrize("options", [{}, {"channel_axis": 0}, {"length_correction": False, "knots": 3}])
def test_container_round_trip_gives_the_encoders_latents_exactly(options):
    post = _posterior(11, (3, 8, 8))
    for lam in (0.05, 1.0, 30.0):
        pipe = _pipeline(VBQQuantizer(**options), lam)
        q = pipe.quantizer.quantize(post, {"lambda": lam})
        decoded = codecframe.decode(pipe.encode({"z": post})).arrays["z"]
        expect = pipe.quantizer.dequantize(q)
        assert decoded.dtype == np.float32 and decoded.tobytes() == expect.tobytes()


def test_fitted_round_trip_and_lambda_rule(fitted):
    post = _posterior(100)
    tables = fitted.tables
    assert tables.channels == 4
    sizes = []
    for lam in (0.1, 0.2, 1.0, 10.0):
        pipe = _pipeline(VBQQuantizer.from_config(fitted.get_config()), lam)
        q = pipe.quantizer.quantize(post, {"lambda": lam})
        assert q.side == {"table": tables.table_index(lam)}
        data = pipe.encode({"z": post})
        decoded = codecframe.decode(data).arrays["z"]
        assert decoded.tobytes() == pipe.quantizer.dequantize(q).tobytes()
        sizes.append(len(data))
    assert sizes == sorted(sizes, reverse=True)
    # nearest grid λ in log scale: sqrt(0.1·0.3) ≈ 0.173 separates tables 0 and 1
    assert [tables.table_index(v) for v in (0.05, 0.17, 0.18, 0.3, 1e9)] == [0, 0, 1, 1, 5]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([1e-3, 0.3, 2.0, 50.0]), st.sampled_from([12, 16, 24]),
       st.sampled_from([{}, {"channel_axis": 1, "r_max": 6}]))
def test_grid_indexes_round_trip_through_the_coder(seed, lam, precision, options):
    post = _posterior(seed, (5, 3, 7), scale=10 ** (seed % 5 - 2))
    q = VBQQuantizer(**options)
    qz = q.quantize(post, {"lambda": lam})
    model, idx = q.symbol_model(qz, precision)
    coder = RangeCoder(precision=precision)
    back = coder.decode(coder.encode(qz.symbols, model, idx), model, qz.symbols.size, idx)
    np.testing.assert_array_equal(back, qz.symbols)
    assert qz.symbols.min() >= 0 and qz.symbols.max() < grid.grid_size(q.config.r_max)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.booleans())
def test_huge_lambda_gives_the_zero_bit_point(seed, correction):
    post = _posterior(seed, (2, 9, 9), scale=3.0)
    q = VBQQuantizer(length_correction=correction)
    qz = q.quantize(post, {"lambda": 1e12})
    assert np.all(qz.symbols == grid.median_index(10))
    model, idx = q.symbol_model(qz, 24)
    assert model.information(qz.symbols, idx) / qz.symbols.size < 1e-3


def test_huge_lambda_gives_the_zero_bit_point_with_fitted_tables(fitted):
    qz = fitted.quantize(_posterior(5), {"lambda": 1e12})
    assert np.all(qz.symbols == grid.median_index(10))


def test_rate_falls_and_distortion_rises_with_lambda():
    post = _posterior(3)
    q = VBQQuantizer()
    opts = [q.estimate(post, {"lambda": lam}, 24) for lam in (0.01, 0.1, 1.0, 10.0)]
    assert [o.bits for o in opts] == sorted([o.bits for o in opts], reverse=True)
    assert [o.distortion for o in opts] == sorted(o.distortion for o in opts)


def test_uncertain_values_get_fewer_bits():
    """The point of VBQ: at equal means, larger posterior std gives a coarser (cheaper) level."""
    rng = np.random.default_rng(0)
    mean = rng.standard_normal(4000)
    q = VBQQuantizer()
    sure = q.quantize(GaussianPosterior(mean=mean, std=np.full(4000, 0.05)), {"lambda": 1.0})
    unsure = q.quantize(GaussianPosterior(mean=mean, std=np.full(4000, 0.5)), {"lambda": 1.0})
    lev = grid.levels(10)
    assert lev[unsure.symbols].mean() < lev[sure.symbols].mean() - 1


@pytest.mark.nojit
@pytest.mark.parametrize("lam", [0, -1.0, float("nan"), float("inf"), "1", True, None])
def test_bad_lambda_is_refused(lam):
    with pytest.raises(ConfigError, match="λ"):
        VBQQuantizer().quantize(_posterior(0, (2, 2)), {"lambda": lam})
    with pytest.raises(ConfigError):
        VBQQuantizer(default_lambda=lam)


@pytest.mark.nojit
def test_bad_config_and_input():
    with pytest.raises(ConfigError, match="sha256"):
        VBQQuantizer(tables="abc")
    with pytest.raises(ConfigError, match="r_max"):
        VBQQuantizer(r_max=16)
    with pytest.raises(ConfigError, match="knots"):
        VBQQuantizer(knots=0)
    with pytest.raises(InputError, match="channel_axis"):
        VBQQuantizer(channel_axis=3).quantize(_posterior(0, (2, 2)), {"lambda": 1.0})
    tiny = GaussianPosterior(mean=np.zeros(3), std=np.full(3, 1e-310))
    with pytest.raises(InputError, match="std"):
        VBQQuantizer().quantize(tiny, {"lambda": 1.0})


def test_fitted_mode_checks_channels(fitted):
    with pytest.raises(InputError, match="channels"):
        fitted.quantize(_posterior(0, (3, 4, 4)), {"lambda": 1.0})
    q = VBQQuantizer(tables=fitted.config.tables, lambdas=(1.0,))
    with pytest.raises(ConfigError, match="channel_axis"):
        q.quantize(_posterior(0), {"lambda": 1.0})
    with pytest.raises(FormatError, match="table"):
        fitted.symbol_model(fitted.quantize(_posterior(0), {"lambda": 1.0}).__class__(
            np.zeros(1024, np.int32), {"lambda": 1.0}, {"table": 99}, (4, 16, 16), "float32"), 16)


def test_container_made_with_other_tables_fails_with_asset_error(fitted, tmp_path):
    other = VBQQuantizer(channel_axis=0, lambdas=(0.5, 2.0))
    other.fit([_posterior(s, scale=2.0) for s in range(50, 53)])
    data = _pipeline(other, 1.0).encode({"z": _posterior(7)})
    qmod._TABLES.pop(other.config.tables)  # as in a process where only the shipped tables are installed
    with pytest.raises(AssetError, match=other.config.tables):
        codecframe.decode(data)
    # and a tables file altered after registration no longer matches its reference
    path = tmp_path / "t.safetensors"
    ref = other.save_tables(str(path))
    register_asset(path)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(AssetError):
        qmod.load_tables(ref)


def test_fitted_tables_file_round_trip_is_exact(fitted):
    data = fitted.tables.to_bytes()
    again = VBQTables.from_bytes(data)
    assert again.to_bytes() == data
    for name in ("points", "lambdas", "lengths", "hist"):
        np.testing.assert_array_equal(getattr(again, name), getattr(fitted.tables, name))
    rng = np.random.default_rng(0)
    means, stds = rng.standard_normal((2, 500)), np.exp(rng.standard_normal((2, 500)))
    assert fit_tables(means, stds, (0.5, 2.0)).to_bytes() == fit_tables(means, stds, (0.5, 2.0)).to_bytes()


@pytest.mark.nojit
@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_format"])
def test_malformed_tables_raise_asset_error(fitted, damage):
    data = fitted.tables.to_bytes()
    bad = {"truncate": data[: len(data) // 2], "garbage": b"\x10\x00" * 50, "empty": b"",
           "wrong_format": data.replace(b"codecframe-vbq-tables", b"codecframe-xyz-tables")}[damage]
    with pytest.raises(AssetError):
        VBQTables.from_bytes(bad)


def test_errors_are_codecframe_errors_for_hostile_side_info():
    q = VBQQuantizer()
    qz = q.quantize(_posterior(1, (2, 5)), {"lambda": 1.0})
    for side in ({"knots": np.full((1, 17), np.nan, np.float32), "levels": qz.side["levels"]},
                 {"knots": qz.side["knots"][:, ::-1].copy(), "levels": qz.side["levels"]},
                 {"knots": qz.side["knots"].astype(np.float64), "levels": qz.side["levels"]},
                 {"knots": qz.side["knots"], "levels": [[2**32 - 1] * 11]},
                 {"knots": qz.side["knots"], "levels": [[1] * 10]},
                 {"knots": qz.side["knots"], "levels": [[1.5] * 11]}):
        with pytest.raises(CodecframeError):
            bad = qz.__class__(qz.symbols, qz.setting, side, qz.shape, qz.dtype)
            q.symbol_model(bad, 16)
            q.dequantize(bad)


@pytest.mark.nojit
@pytest.mark.parametrize("channels", [4096, 65536])
def test_adaptive_side_info_beyond_the_table_limit_is_refused_before_allocating(channels):
    """Issue 19 B1: r_max 15, knots 1 and thousands of channels took 8.5 GB (or a 32 GiB MemoryError)."""
    import time
    import tracemalloc

    from codecframe.errors import LimitError
    from codecframe.types import Quantized

    q = VBQQuantizer(channel_axis=0, r_max=15, knots=1)
    side = {"knots": np.zeros((channels, 2), np.float32), "levels": [[1] * 16 for _ in range(channels)]}
    bad = Quantized(np.zeros(channels, np.int32), {"lambda": 1.0}, side, (channels, 1), "float32")
    tracemalloc.start()
    t0 = time.perf_counter()
    for call in (lambda: q.symbol_model(bad, 24), lambda: q.dequantize(bad)):
        with pytest.raises(LimitError, match="table"):
            call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.perf_counter() - t0 < 5 and peak < 64 << 20
    with pytest.raises(InputError, match="table"):  # the encoder refuses the same before searching
        q.quantize(_posterior(0, (channels, 1)), {"lambda": 1.0})


def test_fit_without_length_correction_keeps_raw_lengths():
    rng = np.random.default_rng(3)
    means, stds = rng.standard_normal((2, 400)), np.exp(rng.normal(-1, 0.5, (2, 400)))
    plain = fit_tables(means, stds, (0.5, 4.0), length_correction=False)
    np.testing.assert_array_equal(plain.lengths, np.broadcast_to(np.arange(11.0), plain.lengths.shape))
    corrected = fit_tables(means, stds, (0.5, 4.0))
    assert not np.array_equal(corrected.lengths, plain.lengths)
    assert plain.hist.sum() == corrected.hist.sum() == 2 * 2 * 400
