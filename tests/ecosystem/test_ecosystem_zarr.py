"""zarr format 2 (numcodecs compressor) and format 3 (native serializer) arrays coded by codecframe."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
pytest.importorskip("dask.array")
from codecframe.dask import create_array  # noqa: E402
from codecframe.errors import ChecksumError, CodecframeError, InputError, UnknownComponentError, VersionError  # noqa: E402

STEP = 0.05
CONFIG = {"quantizer": {"id": "uniform", "step": STEP}}
FORMATS = [2, 3]


def field(shape=(50, 70), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    return (np.sin(x / 7.0) * np.cos(y / 5.0) + 0.1 * rng.standard_normal(shape)).astype(np.float32)


def rounded(x: np.ndarray) -> np.ndarray:
    return (np.rint(x.astype(np.float64) / STEP) * STEP).astype(x.dtype)


def write(path: Path, data: np.ndarray, zarr_format: int, chunks=(16, 32), config=CONFIG):
    arr = create_array(str(path), data.shape, chunks, data.dtype, config, zarr_format=zarr_format)
    arr[...] = data
    return arr


def metadata_file(path: Path, zarr_format: int) -> Path:
    return path / (".zarray" if zarr_format == 2 else "zarr.json")


def codec_config(meta: dict, zarr_format: int) -> dict:
    return meta["compressor"] if zarr_format == 2 else meta["codecs"][0]["configuration"]


def chunk_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".z", "zarr.json")))


@pytest.mark.nojit
@pytest.mark.parametrize("zarr_format", FORMATS)
def test_round_trip_with_edge_chunks(tmp_path, zarr_format):
    data = field()
    write(tmp_path / "a.zarr", data, zarr_format)
    back = zarr.open_array(str(tmp_path / "a.zarr"), mode="r")
    assert back.dtype == data.dtype and back.shape == data.shape
    assert np.array_equal(back[...], rounded(data))
    assert np.array_equal(back[3:40, 60:], rounded(data)[3:40, 60:])
    meta = json.loads(metadata_file(tmp_path / "a.zarr", zarr_format).read_text())
    assert codec_config(meta, zarr_format)["quantizer"] == {"id": "uniform", "version": 1, "step": STEP}


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")  # zarr: no v3 spec for structured dtypes yet
@pytest.mark.parametrize("zarr_format", FORMATS)
def test_uncertainty_aware_array_as_mean_std_fields(tmp_path, zarr_format):
    rng = np.random.default_rng(1)
    data = np.empty((20, 24), [("mean", "f4"), ("std", "f4")])
    data["mean"] = field((20, 24))
    data["std"] = np.exp(rng.normal(-2, 0.3, (20, 24)))
    write(tmp_path / "u.zarr", data, zarr_format, chunks=(10, 12))
    back = zarr.open_array(str(tmp_path / "u.zarr"), mode="r")[...]
    assert back.dtype == data.dtype
    assert np.array_equal(back["mean"], rounded(data["mean"])) and np.array_equal(back["std"], rounded(data["std"]))


def test_both_formats_store_identical_chunk_bytes(tmp_path):
    data = field()
    write(tmp_path / "v2.zarr", data, 2)
    write(tmp_path / "v3.zarr", data, 3)
    v2, v3 = chunk_files(tmp_path / "v2.zarr"), chunk_files(tmp_path / "v3.zarr")
    assert len(v2) == len(v3) == 4 * 3
    assert sorted(p.read_bytes() for p in v2) == sorted(p.read_bytes() for p in v3)


FRESH = textwrap.dedent("""
    import sys, numpy as np, zarr
    assert "codecframe" not in sys.modules
    np.save(sys.argv[2], zarr.open_array(sys.argv[1], mode="r")[...])
    assert "codecframe.ecosystem" in sys.modules  # found through the entry points
""")


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_fresh_process_reopens_through_entry_points_only(tmp_path, zarr_format):
    data = field()
    write(tmp_path / "a.zarr", data, zarr_format)
    out = tmp_path / "out.npy"
    proc = subprocess.run([sys.executable, "-c", FRESH, str(tmp_path / "a.zarr"), str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(np.load(out), zarr.open_array(str(tmp_path / "a.zarr"), mode="r")[...])


def _edit_codec(path: Path, zarr_format: int, edit) -> None:
    meta_path = metadata_file(path, zarr_format)
    meta = json.loads(meta_path.read_text())
    edit(codec_config(meta, zarr_format))
    meta_path.write_text(json.dumps(meta))


def _missing_plugin(cfg):
    cfg["quantizer"] = {"id": "fancy", "version": 1}
    cfg["provenance"] = {"quantizer": {"distribution": "codecframe-fancy", "version": "2.0"}}


@pytest.mark.parametrize("zarr_format", FORMATS)
@pytest.mark.parametrize("edit, error, words", [
    (_missing_plugin, UnknownComponentError, "pip install codecframe-fancy"),
    (lambda cfg: cfg["quantizer"].update(version=7), VersionError, "pip install -U codecframe"),
    (lambda cfg: cfg.update(format=99), VersionError, "pip install -U codecframe"),
])
def test_array_needing_what_the_reader_lacks_names_what_to_install(tmp_path, zarr_format, edit, error, words):
    path = tmp_path / "a.zarr"
    write(path, field(), zarr_format)
    _edit_codec(path, zarr_format, edit)
    with pytest.raises(error, match=words.replace("(", r"\(")):
        zarr.open_array(str(path), mode="r")[...]


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_corrupted_chunk_fails_alone(tmp_path, zarr_format):
    path = tmp_path / "a.zarr"
    data = field()
    write(path, data, zarr_format)
    victim = path / ("1.0" if zarr_format == 2 else "c/1/0")  # rows 16:32, columns 0:32
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x5A
    victim.write_bytes(bytes(raw))
    arr = zarr.open_array(str(path), mode="r")
    with pytest.raises(ChecksumError):
        arr[16:32, 0:32]
    with pytest.raises(CodecframeError):
        arr[...]
    for rows in (slice(0, 16), slice(32, 50)):
        assert np.array_equal(arr[rows, :], rounded(data)[rows, :])
    assert np.array_equal(arr[16:32, 32:], rounded(data)[16:32, 32:])


@pytest.mark.nojit
@pytest.mark.parametrize("zarr_format", FORMATS)
@pytest.mark.parametrize("write_empty_chunks", [True, False])
def test_empty_chunks_are_written_unless_asked_not_to(tmp_path, zarr_format, write_empty_chunks):
    data = field((32, 64))
    data[:16, :32] = 0.0  # one chunk of nothing but the fill value
    arr = create_array(str(tmp_path / "e.zarr"), data.shape, (16, 32), data.dtype, CONFIG, zarr_format=zarr_format,
                       write_empty_chunks=write_empty_chunks)
    assert arr.config.write_empty_chunks is write_empty_chunks
    arr[...] = data
    assert len(chunk_files(tmp_path / "e.zarr")) == (4 if write_empty_chunks else 3)
    assert np.array_equal(zarr.open_array(str(tmp_path / "e.zarr"), mode="r")[...], rounded(data))


@pytest.mark.parametrize("zarr_format", FORMATS)
def test_unsupported_dtype_is_refused_at_creation(tmp_path, zarr_format):
    with pytest.raises(InputError, match="not supported"):
        create_array(str(tmp_path / "c.zarr"), (4,), (2,), "complex64", CONFIG, zarr_format=zarr_format)


@pytest.mark.nojit
def test_zarr_v3_codec_metadata_round_trip_and_pickle():
    import pickle

    from codecframe.ecosystem.zarr_codec import CodecframeCodec

    codec = CodecframeCodec(**CONFIG, std=0.5)
    meta = codec.to_dict()
    assert meta == {"name": "codecframe", "configuration": {"quantizer": {"id": "uniform", "version": 1, "step": STEP}, "std": 0.5}}
    json.dumps(meta)
    clone = CodecframeCodec.from_dict(json.loads(json.dumps(meta)))
    assert clone == codec and hash(clone) == hash(codec)
    assert pickle.loads(pickle.dumps(codec)) == codec
    with pytest.raises(ValueError):
        CodecframeCodec.from_dict({"name": "other", "configuration": {}})
