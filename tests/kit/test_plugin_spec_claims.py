"""Claims of specs/vbq.md §4.1/§5.2, specs/bayesq.md §2–§3 and specs/gmvq.md §3.2/§3.4 checked
against the reference plugins (skipped where a plugin is not installed)."""

import dataclasses
import json

import numpy as np
import pytest

from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import AssetError, ConfigError, FormatError, InputError
from codecframe.types import Quantized


def _post(shape, seed=0):
    rng = np.random.default_rng(seed)
    return GaussianPosterior(mean=rng.standard_normal(shape), std=np.full(shape, 0.3))


# --------------------------------------------------------------------------- vbq
def test_vbq_table_model_uses_each_channels_own_level_histogram():
    vbq = pytest.importorskip("codecframe_vbq.quantizer")
    from codecframe.assets import asset_ref
    from codecframe_vbq.assets import ASSET_DIR
    from codecframe_vbq.grid import levels

    tables = vbq.load_tables(asset_ref(ASSET_DIR / "image-tables.safetensors"))
    r, s = tables.r_max, tables.backoff_shift
    lev = levels(r).astype(np.int64)
    for j in (0, tables.lambdas.size - 1):
        h = tables.hist[j].astype(np.int64)  # (C, K)
        g = np.stack([[h[c, lev == n].sum() for n in range(r + 1)] for c in range(h.shape[0])])  # g[c][n]
        spec = h * 2 ** (r + s) + (g[:, lev] + 1) * 2 ** (r - lev)[None, :]
        assert np.array_equal(tables.counts(j), spec)
        pooled = np.array([h[:, lev == n].sum() for n in range(r + 1)])  # the misreading: across channels
        assert not np.array_equal(tables.counts(j), h * 2 ** (r + s) + (pooled[lev] + 1) * 2 ** (r - lev))


@pytest.mark.parametrize("edit, error", [
    (lambda side: {"knots": side["knots"]}, FormatError),
    (lambda side: {**side, "knots": side["knots"].astype(np.float64)}, FormatError),
    (lambda side: {**side, "knots": side["knots"][:, ::-1].copy()}, FormatError),
    (lambda side: {**side, "levels": side["levels"][:-1]}, FormatError),
    (lambda side: {**side, "levels": [[2**32 - 1] * len(row) for row in side["levels"]]}, FormatError),
])
def test_vbq_adaptive_side_info_errors(edit, error):
    vbq = pytest.importorskip("codecframe_vbq.quantizer")
    q = vbq.VBQQuantizer(channel_axis=0, r_max=4, knots=4)
    qz = q.quantize(_post((3, 5, 4)), {"lambda": 0.5})
    bad = dataclasses.replace(qz, side=edit(dict(qz.side)))
    with pytest.raises(error):
        q.symbol_model(bad, 16)


def test_vbq_config_and_axis_errors():
    vbq = pytest.importorskip("codecframe_vbq.quantizer")
    for bad in ({"r_max": 16}, {"knots": 0}, {"default_lambda": 0.0}, {"tables": "sha256:xyz"}):
        with pytest.raises(ConfigError):
            vbq.VBQQuantizer(**bad)
    q = vbq.VBQQuantizer(channel_axis=3)
    with pytest.raises(InputError):
        q.symbol_model(Quantized(np.zeros(0, np.int32), {"lambda": 1.0}, {}, (2, 2), "float32"), 16)
    with pytest.raises(AssetError):
        vbq.VBQQuantizer(tables="sha256:" + "0" * 64).tables  # noqa: B018


# --------------------------------------------------------------------------- bayesq
def test_bayesq_counts_limit_is_the_row_sum():
    bq = pytest.importorskip("codecframe_bayesq.quantizers")
    q = bq.GridQuantizer()
    qz = q.quantize(_post((4, 8)), {"bits": 2})

    def with_counts(counts):
        return dataclasses.replace(qz, side={**qz.side, "counts": [counts]})

    top = 2**37 - 1
    q.symbol_model(with_counts([top - 3, 1, 1, 1]), 16)  # sum 2^37 - 1: accepted
    with pytest.raises(InputError):
        q.symbol_model(with_counts([top - 2, 1, 1, 1]), 16)  # sum 2^37, every entry below 2^40
    with pytest.raises(InputError):
        q.symbol_model(with_counts([2**40, 0, 0, 0]), 16)


@pytest.mark.parametrize("setting", [{"bits": 9}, {"bits": 0}, {"bits": True}, {"bits": 2.0}, {"bits": [2, 2]},
                                     {"bits": 2, "extra": 1}, {"width": 2}])
def test_bayesq_setting_errors(setting):
    bq = pytest.importorskip("codecframe_bayesq.quantizers")
    q = bq.GridQuantizer()
    qz = q.quantize(_post((4, 8)), {"bits": 2})
    with pytest.raises(ConfigError):
        q.symbol_model(dataclasses.replace(qz, setting=setting), 16)


# --------------------------------------------------------------------------- gmvq
def test_gmvq_checkpoint_errors_are_input_errors(tmp_path):
    ck = pytest.importorskip("codecframe_gmvq.checkpoint")
    from safetensors.numpy import load, save

    from codecframe_gmvq.shipped import SHIPPED_CHECKPOINT

    data = SHIPPED_CHECKPOINT.read_bytes()
    assert issubclass(ck.CheckpointError, InputError)
    header_len = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + header_len])["__metadata__"]
    tensors = load(data)
    bad = {
        "short": b"\x01\x02",
        "format": save(tensors, metadata={**meta, "format": "other"}),
        "version": save(tensors, metadata={**meta, "format_version": "2"}),
        "duplicate rows": save({**tensors, "codebook": np.repeat(tensors["codebook"][:1], len(tensors["codebook"]), 0)},
                               metadata=meta),
        "zero usage": save({**tensors, "usage_counts": np.zeros_like(tensors["usage_counts"])}, metadata=meta),
    }
    for name, blob in bad.items():
        ck.read_codebook.cache_clear()
        with pytest.raises(ck.CheckpointError):
            ck.read_codebook(blob)


def test_gmvq_usage_counts_sum_limit(tmp_path):
    pytest.importorskip("codecframe_gmvq.checkpoint")
    from safetensors.numpy import load, save

    from codecframe.assets import register_asset
    from codecframe_gmvq.quantizer import VectorQuantizer
    from codecframe_gmvq.shipped import SHIPPED_CHECKPOINT

    data = SHIPPED_CHECKPOINT.read_bytes()
    meta = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    tensors = load(data)
    counts = np.ones_like(tensors["usage_counts"])
    counts[0] = 2**37 - counts.size + 1  # sum 2^37
    path = tmp_path / "big-usage.safetensors"
    path.write_bytes(save({**tensors, "usage_counts": counts}, metadata=meta))
    q = VectorQuantizer(codebook=register_asset(path), model="usage")
    length = tensors["codebook"].shape[1]
    view = Quantized(np.zeros(0, np.int32), {"index_model": "usage"}, {}, (2, length), "float32")
    with pytest.raises(InputError):
        q.symbol_model(view, 16)
    q.symbol_model(dataclasses.replace(view, setting={"index_model": "uniform"}), 16)  # other models unaffected
