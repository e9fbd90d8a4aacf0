"""The registered quantizers (contracts, side info, asset tables) and the GPTQ baseline."""

import numpy as np
import pytest

import codecframe
from codecframe import assets
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import AssetError, CodecframeError, ConfigError
from codecframe.pipeline import Pipeline
from codecframe.testing import check_quantizer
from codecframe_bayesq.baselines import gptq_codes, layer_objective, rtn_code
from codecframe_bayesq.quantizers import GridQuantizer, LloydQuantizer
from codecframe_bayesq import tables as tables_module
from codecframe_bayesq.tables import TABLE_FILE, shipped_table_ref


@pytest.mark.parametrize("cls", [GridQuantizer, LloydQuantizer])
def test_quantizer_contract(cls):
    check_quantizer(cls)


def _post(seed=0, shape=(12, 40)):
    rng = np.random.default_rng(seed)
    return GaussianPosterior(mean=(0.1 * rng.standard_normal(shape)).astype(np.float32),
                             std=np.exp(rng.uniform(-6, -2, shape)).astype(np.float32))


@pytest.mark.nojit
@pytest.mark.parametrize("coder", ["range", "rans"])
def test_per_row_widths_round_trip_through_the_pipeline(coder):
    post = _post()
    bits = [2, 3, 4, 8] * 3
    q = GridQuantizer()
    pipe = Pipeline(quantizer=q, allocator={"id": "fixed", "setting": {"bits": bits}}, entropy_coder=coder)
    data = pipe.encode({"w": post})
    out = codecframe.decode(data).arrays["w"]
    expected = q.dequantize(q.quantize(post, {"bits": bits}))
    assert out.dtype == np.float32 and np.array_equal(out, expected)
    # each row holds at most 2^b distinct values on its own grid
    for r, b in enumerate(bits):
        assert len(np.unique(out[r])) <= 1 << b


def test_codes_are_nearest_levels_and_error_shrinks_with_bits():
    post = _post(1)
    q = GridQuantizer()
    errs = []
    for b in (2, 3, 4, 5):
        rec = q.dequantize(q.quantize(post, {"bits": b}))
        errs.append(float(np.mean((rec - post.mean) ** 2)))
    assert errs == sorted(errs, reverse=True)


def test_bad_settings_and_side_info_raise_codecframe_errors():
    post = _post()
    q = GridQuantizer()
    for bad in ({"bits": 0}, {"bits": 9}, {"bits": 2.5}, {"bits": [2, 3]}, {"bits": True}, {"step": 1}):
        with pytest.raises(CodecframeError):
            q.quantize(post, bad)
    with pytest.raises(ConfigError):
        GridQuantizer(allowed_bits=(0, 3))
    with pytest.raises(ConfigError):
        LloydQuantizer(table="md5:abc")


def test_lloyd_table_mode_needs_the_exact_asset(tmp_path):
    post = _post(2)
    ref = shipped_table_ref()
    pipe = Pipeline(quantizer={"id": "bayesq-lloyd", "table": ref}, allocator={"id": "fixed", "setting": {"bits": 3}})
    data = pipe.encode({"w": post})
    rec = codecframe.decode(data).arrays["w"]
    assert len(np.unique(rec[0])) <= 8
    # the same file written with other tables (one level nudged) fails with a hash mismatch
    from safetensors.numpy import load_file, save_file

    tables = load_file(str(TABLE_FILE))
    tables["bits3"] = tables["bits3"].copy()
    tables["bits3"][1] += np.float32(1e-3)
    other = tmp_path / "other_levels.safetensors"
    save_file(tables, str(other))
    other_ref = assets.register_asset(other)
    try:
        data = Pipeline(quantizer={"id": "bayesq-lloyd", "table": other_ref},
                        allocator={"id": "fixed", "setting": {"bits": 3}}).encode({"w": post})
    finally:
        assets._local.pop(assets.parse_ref(other_ref))
        tables_module._LOADED.pop(other_ref, None)  # forget the verified copy this process loaded
    with pytest.raises(AssetError, match=other_ref):
        codecframe.decode(data)


def test_gptq_beats_rtn_on_the_layer_objective():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 48)) @ rng.standard_normal((48, 48)) * 0.3  # correlated inputs
    h = 2 / len(x) * x.T @ x
    w = 0.1 * rng.standard_normal((32, 48))
    for bits in (2, 3, 4):
        rtn = rtn_code(w, np.full(32, bits))
        gptq = gptq_codes(w, h, rtn, blocksize=16)
        obj_rtn = layer_objective(w, rtn.values(), h)
        obj_gptq = layer_objective(w, gptq.values(), h)
        assert obj_gptq < 0.8 * obj_rtn
        assert np.array_equal(gptq.scale, rtn.scale)  # GPTQ only changes the rounding
    # without correlations and damping GPTQ is plain rounding
    plain = gptq_codes(w, np.eye(48), rtn_code(w, np.full(32, 3)), percdamp=0.0, actorder=False)
    assert np.array_equal(plain.codes, rtn_code(w, np.full(32, 3)).codes)


def test_rtn_mse_never_worse_than_minmax_in_its_norm():
    w = np.random.default_rng(3).standard_t(3, (16, 64)) * 0.05
    for bits in (2, 3):
        a, b = rtn_code(w, np.full(16, bits)), rtn_code(w, np.full(16, bits), mse=True)
        err = lambda c: (np.abs(c.values() - w) ** 2.4).sum(1)
        assert np.all(err(b) <= err(a) + 1e-15)
