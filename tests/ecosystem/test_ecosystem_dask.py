"""Chunk-parallel compression on a 2-worker distributed.LocalCluster equals the serial result bit for bit."""

import os
from pathlib import Path

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
from codecframe import dask as cfdask  # noqa: E402
from codecframe.ecosystem.array_codec import ArrayCodec  # noqa: E402
from codecframe.errors import InputError  # noqa: E402

CONFIG = {"quantizer": {"id": "uniform", "step": 0.02}}
CHUNKS = (64, 48)


def source(seed=0, shape=(256, 192)) -> "da.Array":
    return da.random.default_rng(seed).standard_normal(shape, chunks=CHUNKS).astype(np.float32)


def chunk_bytes(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file() and p.name != "zarr.json"}


@pytest.fixture(scope="module")
def client():
    with cfdask.local_cluster(n_workers=2) as cluster, distributed.Client(cluster) as c:
        yield c


def test_two_worker_cluster_matches_serial_encode_and_decode(client, tmp_path):
    pids = cfdask.warm_up(client, CONFIG)
    assert len(set(pids.values())) == 2
    x = source()
    cfdask.to_zarr(x, str(tmp_path / "par.zarr"), CONFIG)
    placed = client.run(lambda dask_worker: len(dask_worker.data) + dask_worker.state.executed_count)
    assert all(n > 0 for n in placed.values()), placed  # both workers did work

    # serial: the same chunks encoded in this process, no dask scheduling, each with its grid index
    values = x.compute()
    codec = ArrayCodec(CONFIG)
    serial = {f"c/{i}/{j}": codec.encode(values[i * CHUNKS[0] : (i + 1) * CHUNKS[0], j * CHUNKS[1] : (j + 1) * CHUNKS[1]],
                                         index=(i, j))
              for i in range(x.shape[0] // CHUNKS[0]) for j in range(x.shape[1] // CHUNKS[1])}
    assert chunk_bytes(tmp_path / "par.zarr") == serial

    parallel_decode = da.from_zarr(str(tmp_path / "par.zarr")).compute()
    serial_decode = ArrayCodec(CONFIG)
    reference = np.empty_like(values)
    for i in range(0, x.shape[0], CHUNKS[0]):
        for j in range(0, x.shape[1], CHUNKS[1]):
            block = values[i : i + CHUNKS[0], j : j + CHUNKS[1]]
            reference[i : i + CHUNKS[0], j : j + CHUNKS[1]] = serial_decode.decode(serial_decode.encode(block))
    assert parallel_decode.dtype == np.float32
    assert np.array_equal(parallel_decode.view(np.uint32), reference.view(np.uint32))


@pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning")
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_mean_std_from_two_aligned_arrays(client, tmp_path, zarr_format):
    shape = (250, 190)  # edge chunks are partial: zarr pads them with the fill value (std 1) before coding
    mean = source(1, shape)
    std = da.exp(source(2, shape) * 0.1 - 2).rechunk((32, 48))
    packed = cfdask.mean_std(mean, std)
    assert packed.dtype.names == ("mean", "std") and packed.chunks == mean.chunks
    z = cfdask.to_zarr(packed, str(tmp_path / "u.zarr"), CONFIG, zarr_format=zarr_format)
    assert tuple(z.fill_value.tolist()) == (0.0, 1.0)
    back = zarr.open_array(str(tmp_path / "u.zarr"), mode="r")[...]
    step = CONFIG["quantizer"]["step"]
    for name, arr in (("mean", mean), ("std", std)):
        assert np.array_equal(back[name], (np.rint(arr.compute().astype(np.float64) / step) * step).astype(np.float32))


def test_irregular_chunks_are_rechunked_and_bad_calls_refused(client, tmp_path):
    x = source().rechunk(((100, 156), (192,)))
    z = cfdask.to_zarr(x, str(tmp_path / "r.zarr"), CONFIG)
    assert z.chunks == (156, 192)
    step = CONFIG["quantizer"]["step"]
    assert np.array_equal(z[...], (np.rint(x.compute().astype(np.float64) / step) * step).astype(np.float32))
    with pytest.raises(InputError, match="dask array"):
        cfdask.to_zarr(np.zeros(3), str(tmp_path / "n.zarr"), CONFIG)
    with pytest.raises(InputError, match="zarr_format"):
        cfdask.codec_arguments(CONFIG, 4)
    with pytest.raises(InputError, match="share shape"):
        cfdask.mean_std(source(), source().astype(np.float64))


def test_workers_start_with_the_malloc_settings(client):
    env = client.run(lambda: {k: os.environ.get(k) for k in cfdask.WORKER_MALLOC})
    assert list(env.values()) == [dict(cfdask.WORKER_MALLOC)] * 2


def test_lazy_write_is_one_fused_task_per_chunk(client, tmp_path):
    x = source(3)
    stored = cfdask.to_zarr(x, str(tmp_path / "lazy.zarr"), CONFIG, compute=False)
    assert isinstance(stored, da.Array) and stored.numblocks == x.numblocks
    assert zarr.open_array(str(tmp_path / "lazy.zarr"), mode="r").nchunks_initialized == 0  # nothing written yet
    (optimized,) = dask.optimize(stored)
    assert len(optimized.__dask_graph__().layers) == 1  # source, encode and write fused into one layer
    graph = dict(optimized.__dask_graph__())
    holders = [key for key, task in graph.items() if isinstance(getattr(task, "value", None), zarr.Array)]
    assert len(holders) == 1  # the target array is one key: it travels once, not inside every task
    assert bool(stored.all().compute())
    step = CONFIG["quantizer"]["step"]
    expected = (np.rint(x.compute().astype(np.float64) / step) * step).astype(np.float32)
    assert np.array_equal(zarr.open_array(str(tmp_path / "lazy.zarr"), mode="r")[...], expected)


@pytest.mark.slow
@pytest.mark.parametrize(("cold", "source"), [(False, "generated"), (True, "generated"), (False, "stored")])
def test_scaleout_benchmark_smoke_run_is_bit_identical(tmp_path, cold, source):
    """``benchmarks/dask/bench_scaleout.py`` end to end on a small array: every run matches the serial loop."""
    import json
    import subprocess
    import sys

    script = Path(__file__).parents[2] / "benchmarks" / "dask" / "bench_scaleout.py"
    out = tmp_path / "scaleout.json"
    argv = [sys.executable, str(script), "--chunks", "4", "--chunk-rows", "64", "--rounds", "2", "--settle", "0",
            "--source", source, "--json", str(out), *(["--cold"] if cold else [])]
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    results = json.loads(out.read_text())
    assert results["cold"] is cold and results["source"] == source and results["elements"] == 4 * 64 * 4096
    assert 0 < results["bits_per_element"] < 32
    assert [len(v) for v in results["runs"].values()] == [2, 2, 2]
    assert all(run["stored_identical_to_serial"] for runs in results["runs"].values() for run in runs)
    assert all(run["decoded_identical_to_serial"] for name in ("1", "2") for run in results["runs"][name])
    assert all(len(results["speedups"][key]) == 2 for key in ("2_vs_serial", "2_vs_1"))
