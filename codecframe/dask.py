"""Chunk-parallel compression of large arrays: dask schedules, zarr stores, codecframe codes each chunk.

Every zarr chunk is encoded independently into a self-contained container, so a dask task per
chunk is all the parallelism needed; workers find the codec through the ``numcodecs.codecs`` and
``zarr.codecs`` entry points. Typical use on one machine::

    from codecframe import dask as cfdask
    with cfdask.local_cluster(n_workers=2) as cluster, distributed.Client(cluster) as client:
        cfdask.warm_up(client, config)
        cfdask.to_zarr(big_dask_array, "out.zarr", config)
    back = dask.array.from_zarr("out.zarr")        # decoding is chunk-parallel too

``config`` is the codec config of :mod:`codecframe.ecosystem.array_codec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np
import zarr

from .ecosystem.array_codec import ArrayCodec, chunk_layout, mean_std_dtype
from .errors import InputError

__all__ = ["local_cluster", "warm_up", "create_array", "to_zarr", "mean_std", "codec_arguments"]


# glibc settings for worker processes; they must be in the environment before a worker starts
# (docs/benchmarks.md, "Scale-out", has the measurements). One malloc arena per process keeps freed
# buffers reusable across threads (zarr encodes in a thread pool). Buffers of 8 MiB and more (a
# chunk, never a group's: groups hold at most 2^20 values) are mapped and unmapped on free, so they
# cannot fragment the heap (numpy asks for transparent huge pages for them, which keeps their page
# faults cheap); smaller ones stay on the heap, which is trimmed only above 64 MiB of free space at
# its top, so group-sized buffers are reused instead of being faulted in again. distributed's own
# default (a 64 KiB trim threshold) maps and zero-faults every chunk-sized buffer anew.
WORKER_MALLOC: dict[str, str | None] = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": str(8 << 20),
                                        "MALLOC_TRIM_THRESHOLD_": str(64 << 20)}


def local_cluster(n_workers: int = 2, *, worker_malloc: Mapping[str, str | None] | None = WORKER_MALLOC, **kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` of single-threaded worker processes on loopback, no dashboard.

    ``worker_malloc`` sets (or, with ``None`` values, unsets) environment variables that glibc reads
    when a worker process starts (see :data:`WORKER_MALLOC`); pass ``None`` for distributed's own
    defaults. Extra keyword arguments go to ``LocalCluster`` (e.g. ``memory_limit``).
    """
    from distributed import LocalCluster

    options = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True,
               "host": "127.0.0.1", "dashboard_address": None, **kwargs}
    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in (worker_malloc or {}).items()}
    with dask.config.set(environ):  # read by each Nanny when the cluster constructs it
        return LocalCluster(**options)


def _warm(config: Mapping[str, Any]) -> int:
    """Encode and decode a small chunk in this process (loads the numba-compiled coder); returns the pid."""
    codec = ArrayCodec(config)
    sample = np.linspace(-1.0, 1.0, 4096, dtype=np.float32).reshape(64, 64)
    codec.decode(codec.encode(sample))
    return os.getpid()


def warm_up(client: Any, config: Mapping[str, Any]) -> dict[str, int]:
    """Run one small encode/decode in every worker of ``client`` so timing excludes compilation.

    Returns ``{worker address: pid}``.
    """
    ArrayCodec(config)  # validate here, so a bad config fails in the caller, not in every worker
    return client.run(_warm, dict(config))


def codec_arguments(config: Mapping[str, Any], zarr_format: int) -> dict[str, Any]:
    """The ``zarr.create_array`` keyword arguments that install the codec for ``zarr_format`` 2 or 3."""
    if zarr_format == 3:
        from .ecosystem.zarr_codec import CodecframeCodec

        return {"serializer": CodecframeCodec(**config), "compressors": None, "filters": None}
    if zarr_format == 2:
        from .ecosystem.numcodecs_codec import Codecframe

        return {"compressors": Codecframe(**config), "filters": None}
    raise InputError(f"zarr_format must be 2 or 3, got {zarr_format!r}")


def create_array(
    store: Any,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    dtype: Any,
    config: Mapping[str, Any],
    *,
    zarr_format: int = 3,
    overwrite: bool = False,
    write_empty_chunks: bool = True,
    **kwargs: Any,
) -> zarr.Array:
    """An empty zarr array whose chunks are coded by codecframe (format 2 via numcodecs, 3 natively).

    ``write_empty_chunks`` is zarr's array setting, here True by default: a chunk of nothing but the
    fill value then is stored (it codes to a few hundred bytes) instead of being left out, and zarr
    skips its check of every written chunk against the fill value, a full extra pass over the chunk
    (about 4 of 30 ms for a 16 MiB chunk; docs/benchmarks.md). Pass False for mostly empty arrays.
    Other keyword arguments go to ``zarr.create_array``.
    """
    chunk_layout(np.dtype(dtype))
    return zarr.create_array(store, shape=shape, chunks=chunks, dtype=dtype, zarr_format=zarr_format,
                             overwrite=overwrite, config={"write_empty_chunks": write_empty_chunks},
                             **codec_arguments(config, zarr_format), **kwargs)


def to_zarr(
    array: da.Array,
    store: Any,
    config: Mapping[str, Any],
    *,
    zarr_format: int = 3,
    overwrite: bool = False,
    write_empty_chunks: bool = True,
    compute: bool = True,
) -> Any:
    """Compress ``array`` into a new zarr array, one dask task per chunk.

    The zarr chunks are the dask array's chunks (irregular chunking is rechunked to its largest
    block shape first); ``write_empty_chunks`` is as in :func:`create_array`. Returns the zarr
    array, or, when ``compute`` is False, a dask array of one ``True`` per chunk whose computation
    writes the chunks.
    """
    if not isinstance(array, da.Array):
        raise InputError(f"to_zarr needs a dask array, got {type(array).__name__}")
    chunks = array.chunksize
    if any(len(set(c[:-1])) > 1 or (len(c) > 1 and c[-1] > c[0]) for c in array.chunks):
        array = array.rechunk(chunks)
    target = create_array(store, array.shape, chunks, array.dtype, config, zarr_format=zarr_format, overwrite=overwrite,
                          write_empty_chunks=write_empty_chunks)
    # a blockwise write fuses with blockwise sources (one task computes, encodes and writes a chunk,
    # so no computed chunk waits in a worker's memory for its store task); the zarr array is one
    # graph key, so it is pickled once and each worker reuses one instance for all its chunks
    stored = array.map_blocks(_write_block, dask.delayed(target, pure=False), dtype=bool,
                              chunks=tuple((1,) * len(c) for c in array.chunks), meta=np.empty((0,) * array.ndim, bool))
    if not compute:
        return stored
    stored.compute()
    return target


def _write_block(block: np.ndarray, target: zarr.Array, block_info: dict | None = None) -> np.ndarray:
    """Write one dask block into its place in ``target``; a one-element result per block."""
    location = block_info[0]["array-location"]  # type: ignore[index]
    target[tuple(slice(start, stop) for start, stop in location)] = block
    return np.ones((1,) * block.ndim, bool)


def _pack_mean_std(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    out = np.empty(mean.shape, mean_std_dtype(mean.dtype))
    out["mean"], out["std"] = mean, std
    return out


def mean_std(mean: da.Array, std: da.Array) -> da.Array:
    """Two aligned arrays (same shape, chunks and float dtype) as one structured ``mean``/``std`` array.

    This is the input convention of the codec for uncertainty-aware arrays.
    """
    if mean.shape != std.shape or mean.dtype != std.dtype or mean.dtype.kind != "f":
        raise InputError(f"mean {mean.shape} {mean.dtype} and std {std.shape} {std.dtype} must share shape and float dtype")
    if mean.chunks != std.chunks:
        std = std.rechunk(mean.chunks)
    return da.map_blocks(_pack_mean_std, mean, std, dtype=mean_std_dtype(mean.dtype))
