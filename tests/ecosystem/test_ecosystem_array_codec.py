"""The array codec shared by the numcodecs and zarr adapters: config, chunk layouts, errors, laziness."""

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from codecframe import assets, container
from codecframe.assets import load_asset, register_asset
from codecframe.builtins.uniform import UniformQuantizer
from codecframe.ecosystem.array_codec import FORMAT, ArrayCodec, normalize_config
from codecframe.errors import (AssetError, ChecksumError, ConfigError, FormatError, InputError,
                               UnknownComponentError, VersionError)
from codecframe.pipeline import Pipeline
from codecframe.registry import registry

numcodecs = pytest.importorskip("numcodecs")
from codecframe.ecosystem.numcodecs_codec import Codecframe  # noqa: E402

STEP = 0.25
CONFIG = {"quantizer": {"id": "uniform", "step": STEP}}


def expected(x: np.ndarray, step: float = STEP) -> np.ndarray:
    """What the uniform quantizer must reconstruct, in the chunk's dtype (specs/bitstream.md §7.2)."""
    values = np.rint(x.astype(np.float64) / step) * step
    if x.dtype.kind == "f":
        return values.astype(x.dtype)
    info = np.iinfo(x.dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(x.dtype)


# --------------------------------------------------------------------------- config
def test_config_leaves_out_default_valued_keys():
    defaults = UniformQuantizer.Config()
    full = {"quantizer": {"id": "uniform", "version": 1, "step": defaults.step, "candidates": list(defaults.candidates)},
            "posterior": {"id": "gaussian"}, "allocator": "fixed", "entropy_coder": {"id": "range"},
            "std": 1, "std_rel": 0.25, "format": FORMAT}
    assert normalize_config(full) == {"quantizer": {"id": "uniform", "version": 1}}
    custom = {"quantizer": {"id": "uniform", "step": 0.5}, "entropy_coder": "rans", "std": 2.0}
    norm = normalize_config(custom)
    assert norm == {"quantizer": {"id": "uniform", "version": 1, "step": 0.5},
                    "entropy_coder": {"id": "rans", "version": 1}, "std": 2.0}
    assert normalize_config(norm) == norm


@pytest.mark.parametrize("bad, error, words", [
    ({"quantizer": "uniform", "colour": 1}, ConfigError, "colour"),
    ({}, ConfigError, "quantizer"),
    ({"quantizer": "uniform", "std": -1.0}, ConfigError, "std"),
    ({"quantizer": "uniform", "format": FORMAT + 1}, VersionError, "pip install -U codecframe"),
    ({"quantizer": {"id": "uniform", "version": 9}}, VersionError, "pip install -U codecframe"),
    ({"quantizer": {"id": "uniform", "stepp": 1.0}}, ConfigError, "stepp"),
    ({"quantizer": {"id": "fancy"}, "provenance": {"quantizer": {"distribution": "codecframe-fancy", "version": "2.0"}}},
     UnknownComponentError, "pip install codecframe-fancy"),
    ({"quantizer": "uniform", "id": "zlib"}, ConfigError, "zlib"),
])
def test_bad_config_names_the_problem(bad, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(")):
        ArrayCodec(bad)


# --------------------------------------------------------------------------- round trips
FLOATS = st.floats(-1000, 1000, allow_nan=False, allow_infinity=False, width=16)
DTYPES = st.sampled_from(["float16", "float32", "float64", ">f4", "int8", "uint8", "int16", "uint16", "int32", "uint32"])


def values(dtype: str) -> st.SearchStrategy:
    """Elements within the uniform quantizer's alphabet limit at STEP (at most 65536 levels)."""
    if np.dtype(dtype).kind == "f":
        return FLOATS
    info = np.iinfo(dtype)
    return st.integers(max(int(info.min), -1000), min(int(info.max), 1000))


@pytest.mark.nojit
@settings(max_examples=40, deadline=None)
@given(x=DTYPES.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9),
                                               elements=values(dt))))
def test_plain_round_trip_is_the_exact_rounding_in_the_original_dtype_and_shape(x):
    codec = ArrayCodec(CONFIG)
    y = codec.decode(codec.encode(x))
    assert y.dtype == x.dtype and y.shape == x.shape
    assert np.array_equal(y, expected(x))


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from(["float32", "float64"]), shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=12),
       seed=st.integers(0, 2**32 - 1))
def test_mean_std_layout_round_trips_both_fields(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    chunk = np.empty(shape, [("mean", dtype), ("std", dtype)])
    chunk["mean"] = 10 * rng.standard_normal(shape)
    chunk["std"] = np.exp(rng.normal(0, 1, shape))
    codec = ArrayCodec(CONFIG)
    y = codec.decode(codec.encode(chunk))
    assert y.dtype == chunk.dtype and y.shape == chunk.shape
    assert np.array_equal(y["mean"], expected(chunk["mean"])) and np.array_equal(y["std"], expected(chunk["std"]))


def test_plain_std_option_is_the_posterior_scale():
    x = np.linspace(-3, 3, 600).astype(np.float32)
    codec = ArrayCodec({"quantizer": "uniform", "std": 0.5})
    _, groups = codec.groups(x, codec.pipeline().posterior_cls)
    assert np.all(groups["data/0"].std == np.float32(0.5)) and groups["data/0"].std.strides == (0,)


@pytest.mark.nojit
def test_numcodecs_codec_honours_out_and_registry():
    codec = numcodecs.get_codec({"id": "codecframe", **CONFIG})
    assert isinstance(codec, Codecframe)
    x = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    out = np.zeros_like(x)
    result = codec.decode(codec.encode(x), out=out)
    assert result is out and np.array_equal(out, expected(x))
    assert codec.get_config() == {"id": "codecframe", "quantizer": {"id": "uniform", "version": 1, "step": STEP}}
    assert numcodecs.get_codec(codec.get_config()) == codec


def test_instances_pickle_as_their_config():
    codec = Codecframe(**CONFIG)
    x = np.random.default_rng(4).standard_normal(1000)
    data = codec.encode(x)  # builds the pipeline; pickling must not carry it
    blob = pickle.dumps(codec)
    assert len(blob) < 400
    clone = pickle.loads(blob)
    assert clone == codec and np.array_equal(clone.decode(data), codec.decode(data))
    raw = pickle.loads(pickle.dumps(ArrayCodec(CONFIG)))
    assert raw._encoder is None and raw.config == ArrayCodec(CONFIG).config


@settings(max_examples=25, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7), limit=st.integers(1, 60),
       structured=st.booleans())
def test_chunks_split_into_row_blocks_of_bounded_size(shape, limit, structured):
    rng = np.random.default_rng(sum(shape) + limit)
    if structured:
        chunk = np.empty(shape, [("mean", "f4"), ("std", "f4")])
        chunk["mean"], chunk["std"] = rng.standard_normal(shape), 0.5
    else:
        chunk = rng.standard_normal(shape).astype(np.float32)
    codec = ArrayCodec({**CONFIG, "max_group_elements": limit})
    meta, groups = codec.groups(chunk, codec.pipeline().posterior_cls)
    row = int(np.prod(shape[1:], dtype=np.int64)) if shape else 1
    assert all(g.size <= max(limit, row) for g in groups.values())
    fields = 2 if structured else 1
    assert len(groups) == fields * (1 if not shape or shape[0] == 0 else -(-shape[0] // meta["block_rows"]))
    y = codec.decode(codec.encode(chunk))
    assert y.dtype == chunk.dtype and y.shape == chunk.shape
    if structured:
        assert np.array_equal(y["mean"], expected(chunk["mean"])) and np.array_equal(y["std"], expected(chunk["std"]))
    else:
        assert np.array_equal(y, expected(chunk))


def test_group_size_option():
    assert ArrayCodec({**CONFIG, "max_group_elements": 1 << 20}).config == ArrayCodec(CONFIG).config
    whole = ArrayCodec({**CONFIG, "max_group_elements": None})
    assert whole.config["max_group_elements"] is None
    assert whole.block_rows((5000, 300)) == 5000 and ArrayCodec(CONFIG).block_rows((5000, 300)) == (1 << 20) // 300
    for bad in (0, -3, 1.5, True, "many"):
        with pytest.raises(ConfigError, match="max_group_elements"):
            ArrayCodec({**CONFIG, "max_group_elements": bad})
    with pytest.raises(InputError, match="max_group_elements"):
        ArrayCodec({**CONFIG, "max_group_elements": 1}).encode(np.zeros(70_000))


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("chunk, words", [
    (np.array([1.0, np.nan]), "NaN"),
    (np.array([1.0, np.inf], np.float32), "infinite"),
    (b"\x00\x01\x02\x03", "raw bytes"),
    (np.zeros(3, np.complex64), "not supported"),
    (np.zeros(3, np.int64), "not supported"),
    (np.zeros(3, bool), "not supported"),
    (np.zeros(3, [("mean", "f4"), ("sd", "f4")]), "mean"),
    (np.zeros(3, [("mean", "f4"), ("std", "f8")]), "share one float dtype"),
    (np.zeros(3, [("mean", "f4"), ("std", "f4")]), "std must be positive"),
])
def test_unusable_chunks_raise_input_error(chunk, words):
    with pytest.raises(InputError, match=words):
        ArrayCodec(CONFIG).encode(chunk)


@pytest.mark.nojit
def test_corrupted_or_foreign_data_raises_format_errors():
    codec = ArrayCodec(CONFIG)
    data = bytearray(codec.encode(np.arange(100.0)))
    data[-10] ^= 0x40
    with pytest.raises(ChecksumError):
        codec.decode(bytes(data))
    with pytest.raises(FormatError, match="magic"):
        codec.decode(b"not a container at all")
    with pytest.raises(FormatError):
        codec.decode(np.frombuffer(bytes(data[:30]), np.uint8))
    plain = Pipeline.from_config(CONFIG).encode({"x": codec.groups(np.ones(3), codec.pipeline().posterior_cls)[1]["data/0"]})
    with pytest.raises(FormatError, match="not an array chunk"):
        codec.decode(plain)


def test_chunk_from_a_newer_format_is_refused_with_upgrade_hint():
    codec = ArrayCodec(CONFIG)
    groups = codec.groups(np.ones(4), codec.pipeline().posterior_cls)[1]
    meta = {"format": FORMAT + 1, "layout": "plain", "dtype": "<f8", "shape": [4], "block_rows": 4}
    future = codec.pipeline().encode(groups, {"array": meta})
    with pytest.raises(VersionError, match="pip install -U codecframe"):
        codec.decode(future)


def test_chunk_meta_inconsistent_with_groups_is_a_format_error():
    codec = ArrayCodec(CONFIG)
    groups = codec.groups(np.ones(4), codec.pipeline().posterior_cls)[1]
    good = {"format": 1, "layout": "plain", "dtype": "<f8", "shape": [4], "block_rows": 4}
    assert np.array_equal(codec.decode(codec.pipeline().encode(groups, {"array": good})), np.ones(4))
    for change in ({"shape": [5]}, {"shape": [2, 3]}, {"shape": [10**12]}, {"shape": [10**9, 0]}, {"block_rows": 1},
                   {"block_rows": 0}, {"layout": "mean_std"}, {"dtype": "<c8"}, {"dtype": "no such dtype"},
                   {"extra": 1}, {"shape": "4"}):
        with pytest.raises(FormatError):
            codec.decode(codec.pipeline().encode(groups, {"array": {**good, **change}}))


# --------------------------------------------------------------------------- lazy assets
@dataclasses.dataclass(frozen=True)
class _StepTableConfig:
    table: str = "sha256:" + "0" * 64


class StepTableQuantizer(UniformQuantizer):
    """Test quantizer whose step is a learned 'model' shipped as an asset, loaded when built."""

    id = "test-step-table"
    Config = _StepTableConfig
    loads = 0

    def __init__(self, config=None, /, **options):
        super(UniformQuantizer, self).__init__(config, **options)
        type(self).loads += 1
        self.step = float(np.frombuffer(load_asset(self.config.table), "<f8")[0])

    def settings(self):
        return [{"step": self.step}]

    def default_setting(self):
        return {"step": self.step}


def test_models_load_lazily_by_asset_hash(tmp_path, monkeypatch):
    table = tmp_path / "step.bin"
    table.write_bytes(np.array([0.5], "<f8").tobytes())
    ref = assets.asset_ref(table)
    config = {"quantizer": {"id": StepTableQuantizer.id, "table": ref}}
    with registry.registered(StepTableQuantizer):
        StepTableQuantizer.loads = 0
        codec = ArrayCodec(config)  # as when zarr opens an array: config checked, nothing loaded
        assert StepTableQuantizer.loads == 0
        with pytest.raises(AssetError, match=ref):
            codec.encode(np.ones(3))
        register_asset(table)
        x = np.random.default_rng(5).standard_normal(50)
        data = codec.encode(x)
        codec.encode(x)
        assert StepTableQuantizer.loads == 2  # the failed build and the successful one, then cached
        assert np.array_equal(ArrayCodec(config).decode(data), expected(x, 0.5))
        monkeypatch.setattr(assets, "_local", {})
        monkeypatch.setattr(assets, "_index", {})
        monkeypatch.setattr(assets, "_build_index", dict)
        with pytest.raises(AssetError, match="lacks"):
            ArrayCodec(config).decode(data)
