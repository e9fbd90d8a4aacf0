"""``codecframe zarr``: compress, decompress and info, their helpers, and their bad-input behaviour."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("dask")
pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
from codecframe import dask as cfdask  # noqa: E402
from codecframe.cli.main import main  # noqa: E402
from codecframe.ecosystem.array_codec import ArrayCodec  # noqa: E402
from codecframe.errors import InputError  # noqa: E402

STEP = 0.02
CONFIG = json.dumps({"quantizer": {"id": "uniform", "step": STEP}})


def quantized(x: np.ndarray, step: float = STEP) -> np.ndarray:
    return (np.rint(x.astype(np.float64) / step) * step).astype(x.dtype)


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(3)
    mean = rng.standard_normal((90, 40)).astype(np.float32)
    std = (0.05 + rng.random((90, 40))).astype(np.float32)
    np.save(tmp_path / "mean.npy", mean)
    np.save(tmp_path / "std.npy", std)
    return mean, std


def run(capsys, *argv: str) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns that structured dtypes have no v3 specification yet
        code = main(["zarr", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_compress_info_decompress_round_trip(tmp_path, capsys, arrays, zarr_format):
    mean, _ = arrays
    store = tmp_path / "a.zarr"
    code, out, _ = run(capsys, "compress", tmp_path / "mean.npy", "-o", store, "-c", CONFIG, "--chunks", "32,40",
                       "--zarr-format", zarr_format)
    assert code == 0 and "in 3 chunk(s)" in out
    assert zarr.open_array(str(store), mode="r").chunks == (32, 40)
    code, out, _ = run(capsys, "info", store, "--json")
    info = json.loads(out)
    assert code == 0 and info["zarr_format"] == zarr_format and info["shape"] == [90, 40]
    assert info["chunks_stored"] == info["chunks_total"] == 3
    assert any("codecframe" in json.dumps(c) for c in info["codecs"])
    assert info["bits_per_element"] == pytest.approx(8 * info["bytes_stored"] / mean.size)
    code, out, _ = run(capsys, "decompress", store, "-o", tmp_path / "back.npy")
    back = np.load(tmp_path / "back.npy")
    assert code == 0 and back.dtype == mean.dtype
    np.testing.assert_array_equal(back, quantized(mean))


def test_mean_std_on_a_one_worker_cluster_with_progress(tmp_path, capsys, arrays):
    mean, std = arrays
    store = tmp_path / "ms.zarr"
    code, out, err = run(capsys, "compress", tmp_path / "mean.npy", "--std", tmp_path / "std.npy", "-o", store,
                         "-c", CONFIG, "--chunks", "50,40", "--workers", "1", "--progress")
    assert code == 0 and "to_zarr: 2/2" in err  # 90 rows in chunks of 50: the edge chunk is padded by zarr
    code, _, err = run(capsys, "decompress", store, "-o", tmp_path / "ms.npy", "--workers", "1", "--progress")
    back = np.load(tmp_path / "ms.npy")
    assert code == 0 and "to_npy: 2/2" in err
    assert back.dtype.names == ("mean", "std")
    np.testing.assert_array_equal(back["mean"], quantized(mean))
    codec = ArrayCodec(json.loads(CONFIG))  # the same bytes as a serial encode of each chunk
    packed = np.empty(mean.shape, back.dtype)
    packed["mean"], packed["std"] = mean, std
    np.testing.assert_array_equal(codec.decode(codec.encode(packed[50:])), back[50:])


def test_zarr_input_keeps_its_chunks(tmp_path, capsys, arrays):
    mean, _ = arrays
    raw = zarr.create_array(str(tmp_path / "raw.zarr"), shape=mean.shape, chunks=(45, 20), dtype=mean.dtype)
    raw[...] = mean
    code, _, _ = run(capsys, "compress", tmp_path / "raw.zarr", "-o", tmp_path / "c.zarr", "-c", CONFIG)
    stored = zarr.open_array(str(tmp_path / "c.zarr"), mode="r")
    assert code == 0 and stored.chunks == (45, 20)
    np.testing.assert_array_equal(stored[...], quantized(mean))


@pytest.mark.parametrize("workers", [0, 1])
def test_failed_compress_leaves_the_existing_output(tmp_path, capsys, arrays, workers):
    mean, std = arrays
    store = tmp_path / "out.zarr"
    assert run(capsys, "compress", tmp_path / "mean.npy", "-o", store, "-c", CONFIG)[0] == 0
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    code, _, err = run(capsys, "compress", tmp_path / "mean.npy", "-o", store, "-c", CONFIG)
    assert code == 1 and "already exists" in err
    std[70, 3] = 0.0  # one chunk cannot be coded
    np.save(tmp_path / "bad_std.npy", std)
    code, _, err = run(capsys, "compress", tmp_path / "mean.npy", "--std", tmp_path / "bad_std.npy", "-o", store,
                       "-c", CONFIG, "--chunks", "32,40", "--overwrite", "--workers", workers)
    assert code == 1 and "codecframe: error: block [64:90, 0:40]: " in err and "std must be positive" in err
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_std.npy", "mean.npy", "out.zarr", "std.npy"]
    code, _, _ = run(capsys, "compress", tmp_path / "mean.npy", "-o", store, "-c", CONFIG, "--overwrite",
                     "--chunks", "90,40")
    assert code == 0 and zarr.open_array(str(store), mode="r").chunks == (90, 40)


@pytest.mark.parametrize("case, message", [
    ("object", "not a readable .npy file"),
    ("truncated", "not a readable .npy file"),
    ("npz", "expected a .npy file"),
    ("std shape", "must share shape"),
    ("chunks rank", "do not fit its shape"),
    ("no config", "neither a readable"),
])
def test_compress_bad_input_is_a_clear_error(tmp_path, capsys, arrays, case, message):
    source, extra = tmp_path / "mean.npy", []
    if case == "object":
        source = tmp_path / "o.npy"
        np.save(source, np.array([1, "a"], dtype=object), allow_pickle=True)
    elif case == "truncated":
        source = tmp_path / "t.npy"
        source.write_bytes((tmp_path / "mean.npy").read_bytes()[:500])
    elif case == "npz":
        source = tmp_path / "a.npz"
        np.savez(source, x=arrays[0])
    elif case == "std shape":
        np.save(tmp_path / "small.npy", arrays[1][:10])
        extra = ["--std", tmp_path / "small.npy"]
    elif case == "chunks rank":
        extra = ["--chunks", "4,4,4"]
    config = "{not json" if case == "no config" else CONFIG
    code, _, err = run(capsys, "compress", source, "-o", tmp_path / "x.zarr", "-c", config, *extra)
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.zarr").exists()


def test_decompress_and_info_refuse_what_they_cannot_read(tmp_path, capsys, arrays):
    store = tmp_path / "a.zarr"
    assert run(capsys, "compress", tmp_path / "mean.npy", "-o", store, "-c", CONFIG, "--chunks", "30,40")[0] == 0
    code, _, err = run(capsys, "decompress", store, "-o", tmp_path / "x.npy", "--max-elements", "100")
    assert code == 2 and "exceed --max-elements" in err
    for action in (["info"], ["decompress", "-o", tmp_path / "x.npy"]):
        code, _, err = run(capsys, *action, tmp_path / "nothing.zarr")
        assert code == 1 and "no such zarr array" in err
    (tmp_path / "broken.zarr").mkdir()
    (tmp_path / "broken.zarr" / "zarr.json").write_text("{not json")
    code, _, err = run(capsys, "info", tmp_path / "broken.zarr")
    assert code == 1 and "not a readable zarr array" in err
    chunk = store / "c" / "1" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    code, _, err = run(capsys, "decompress", store, "-o", tmp_path / "x.npy")
    assert code == 1 and "codecframe: error:" in err and "Traceback" not in err
    assert not (tmp_path / "x.npy").exists()


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(0, 40), min_size=0, max_size=3).map(tuple),
       itemsize=st.sampled_from([1, 4, 8]), target=st.integers(1, 4096))
def test_row_chunks_cover_the_shape_in_the_fewest_balanced_chunks(shape, itemsize, target):
    chunks = cfdask.row_chunks(shape, f"u{itemsize}" if itemsize < 8 else "f8", target)
    assert len(chunks) == len(shape) and all(c >= 1 for c in chunks)
    if not shape:
        return
    assert chunks[1:] == tuple(max(n, 1) for n in shape[1:])
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * itemsize
    rows = max(shape[0], 1)
    fitting = min(max(1, target // max(row_bytes, 1)), rows)  # most rows within the target (at least one)
    n_chunks = -(-rows // chunks[0])
    assert n_chunks == -(-rows // fitting)  # as few chunks as the target allows
    assert chunks[0] <= fitting and chunks[0] * n_chunks - rows < n_chunks  # spread evenly


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=3).map(tuple), chunk=st.integers(1, 5),
       dtype=st.sampled_from(["float32", "int16", "float64"]))
def test_from_npy_reads_every_block(tmp_path_factory, shape, chunk, dtype):
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    x = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    np.save(path, x)
    lazy = cfdask.from_npy(path, chunks=(chunk,) * len(shape) or None)
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), x)


def test_from_npy_refuses_pickled_objects(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable .npy file"):
        cfdask.from_npy(tmp_path / "o.npy")


def test_tutorial_shell_block_runs(tmp_path, monkeypatch, capsys):
    """The ``codecframe zarr`` lines of docs/tutorials/scale-out.md (the block marked ``docs-test: shell``)."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "tutorials" / "scale-out.md").read_text()
    block = page.split("<!-- docs-test: shell -->\n```bash\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    lines = block.strip().splitlines()
    assert [line.split()[:3] for line in lines[1:]] == [["codecframe", "zarr", a] for a in
                                                        ("compress", "info", "decompress", "compress")]
    for line in lines:
        argv = shlex.split(line)
        if argv[0] == "python":
            subprocess.run([sys.executable, *argv[1:]], check=True, timeout=120)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(argv[1:]) == 0, line
    capsys.readouterr()
    np.testing.assert_array_equal(np.load("field.npy"), quantized(np.load("mean.npy"), 0.01))
    belief = zarr.open_array("belief.zarr", mode="r")
    assert belief.dtype.names == ("mean", "std") and belief.metadata.zarr_format == 2


@pytest.mark.parametrize("shape, chunks", [((37, 11), (10, 4)), ((0, 5), (1, 5)), ((), ()), ((6,), (6,))])
def test_to_npy_writes_blocks_in_place_and_reports_each(tmp_path, shape, chunks):
    import dask.array as da

    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) * 0.5
    calls = []
    path = cfdask.to_npy(da.from_array(x, chunks=chunks), tmp_path / "x.npy", progress=lambda *a: calls.append(a))
    back = np.load(path)
    assert back.dtype == x.dtype and back.shape == x.shape and np.array_equal(back, x)
    blocks = int(np.prod([-(-n // c) if n else 1 for n, c in zip(shape, chunks)]))
    assert calls == ([("to_npy", k, blocks) for k in range(1, blocks + 1)] if x.size else [])
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]


def test_to_npy_failure_keeps_the_previous_file(tmp_path):
    import dask.array as da

    np.save(tmp_path / "x.npy", np.ones(3))

    def fail(block, block_info=None):
        if block_info[0]["chunk-location"] == (2,):
            raise InputError("block 2 is bad")
        return block

    with pytest.raises(InputError, match="block 2 is bad"):
        cfdask.to_npy(da.zeros(12, chunks=3).map_blocks(fail, dtype=float), tmp_path / "x.npy")
    assert np.array_equal(np.load(tmp_path / "x.npy"), np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["x.npy"]
    with pytest.raises(InputError, match="dask array"):
        cfdask.to_npy(np.zeros(3), tmp_path / "y.npy")
