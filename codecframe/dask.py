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

import dask.array as da
import numpy as np
import zarr

from .ecosystem.array_codec import ArrayCodec, chunk_layout, mean_std_dtype
from .errors import InputError

__all__ = ["local_cluster", "warm_up", "create_array", "to_zarr", "mean_std", "codec_arguments"]


def local_cluster(n_workers: int = 2, **kwargs: Any) -> Any:
    """A ``distributed.LocalCluster`` of single-threaded worker processes on loopback, no dashboard.

    Extra keyword arguments go to ``LocalCluster`` (e.g. ``memory_limit``).
    """
    from distributed import LocalCluster

    options = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True,
               "host": "127.0.0.1", "dashboard_address": None, **kwargs}
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
    **kwargs: Any,
) -> zarr.Array:
    """An empty zarr array whose chunks are coded by codecframe (format 2 via numcodecs, 3 natively)."""
    chunk_layout(np.dtype(dtype))
    return zarr.create_array(store, shape=shape, chunks=chunks, dtype=dtype, zarr_format=zarr_format,
                             overwrite=overwrite, **codec_arguments(config, zarr_format), **kwargs)


def to_zarr(
    array: da.Array,
    store: Any,
    config: Mapping[str, Any],
    *,
    zarr_format: int = 3,
    overwrite: bool = False,
    compute: bool = True,
) -> Any:
    """Compress ``array`` into a new zarr array, one dask task per chunk.

    The zarr chunks are the dask array's chunks (irregular chunking is rechunked to its largest
    block shape first). Returns the zarr array, or the dask object to compute when ``compute`` is
    False.
    """
    if not isinstance(array, da.Array):
        raise InputError(f"to_zarr needs a dask array, got {type(array).__name__}")
    chunks = array.chunksize
    if any(len(set(c[:-1])) > 1 or (len(c) > 1 and c[-1] > c[0]) for c in array.chunks):
        array = array.rechunk(chunks)
    target = create_array(store, array.shape, chunks, array.dtype, config, zarr_format=zarr_format, overwrite=overwrite)
    stored = da.store(array, target, lock=False, compute=compute)
    return target if compute else stored


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
