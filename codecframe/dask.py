"""Chunk-parallel compression of large arrays: dask schedules, zarr stores, codecframe codes each chunk.

Every zarr chunk is encoded independently into a self-contained container, so a dask task per
chunk is all the parallelism needed; workers find the codec through the ``numcodecs.codecs`` and
``zarr.codecs`` entry points. Typical use on one machine::

    from codecframe import dask as cfdask
    with cfdask.local_cluster(n_workers=2) as cluster, distributed.Client(cluster) as client:
        cfdask.warm_up(client, config)
        cfdask.to_zarr(big_dask_array, "out.zarr", config)
    back = cfdask.read_zarr("out.zarr")            # decoding is chunk-parallel too

``config`` is the codec config of :mod:`codecframe.ecosystem.array_codec`. Chunks written by
:func:`to_zarr` record their place in the chunk grid, and :func:`read_zarr` checks each chunk's
shape and place against the key it was read from (``dask.array.from_zarr`` reads them too, without
that check).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import zarr
from dask.system import CPU_COUNT

from .ecosystem.array_codec import ArrayCodec, chunk_layout, mean_std_dtype
from .errors import CodecframeError, InputError, LimitError
from .io import atomic_open, is_device_output
from .pipeline import MAX_ELEMENTS, Progress

__all__ = ["local_cluster", "warm_up", "create_array", "to_zarr", "write_chunk", "read_zarr", "stored_chunks",
           "missing_chunks", "array_codec", "to_npy", "compute_blocks", "mean_std", "from_npy", "row_chunks", "codec_arguments",
           "DEFAULT_CHUNK_BYTES"]

#: Chunk size :func:`row_chunks` aims at: 16 MiB chunks gave the best throughput per worker and kept
#: a worker's memory within 3 chunks (docs/benchmarks.md, "Scale-out").
DEFAULT_CHUNK_BYTES = 16 << 20


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
    Other keyword arguments go to ``zarr.create_array``. For a mean/std dtype the default
    ``fill_value`` is mean 0, std 1: zarr pads a partial edge chunk with the fill value before the
    codec sees it, and a std of 0 could not be coded.
    """
    layout, field = chunk_layout(np.dtype(dtype))
    if layout == "mean_std":
        kwargs.setdefault("fill_value", np.array((0, 1), mean_std_dtype(field))[()])
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
    progress: Progress | None = None,
) -> Any:
    """Compress ``array`` into a new zarr array, one dask task per chunk.

    The zarr chunks are the dask array's chunks (irregular chunking is rechunked to its largest
    block shape first); ``write_empty_chunks`` is as in :func:`create_array`. Each chunk records its
    grid index, which :func:`read_zarr` checks (the chunk is encoded here and stored under its key,
    an edge chunk padded with the fill value as zarr pads it). Returns the zarr
    array, or, when ``compute`` is False, a dask array of one ``True`` per chunk whose computation
    writes the chunks. ``progress`` is called as in :func:`compute_blocks`.
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
    compute_blocks(stored, progress, "to_zarr")
    return target


def to_npy(array: da.Array, path: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
    """Write ``array`` into a ``.npy`` file, each task its own block through a memory map of the file.

    No block travels to the caller, so a decoded array larger than memory can be written, and the
    file must be writable where the tasks run. The file is written atomically: it appears, complete
    and synced, only when every block has been written (a failure leaves any previous file as it
    was). ``progress`` is called as in :func:`compute_blocks`. Returns the path.
    """
    if not isinstance(array, da.Array):
        raise InputError(f"to_npy needs a dask array, got {type(array).__name__}")
    if array.size and is_device_output(path):
        raise InputError(f"{path}: a device or FIFO cannot be memory-mapped; to_npy writes a regular file")
    with atomic_open(path) as fh:
        if array.size == 0:  # nothing to map
            np.save(fh, np.empty(array.shape, array.dtype), allow_pickle=False)
        else:
            np.lib.format.open_memmap(fh.name, mode="w+", dtype=array.dtype, shape=array.shape).flush()
            written = array.map_blocks(_write_npy_block, fh.name, dtype=bool,
                                       chunks=tuple((1,) * len(c) for c in array.chunks),
                                       meta=np.empty((0,) * array.ndim, bool))
            compute_blocks(written, progress, "to_npy")
    return Path(path)


def compute_blocks(array: da.Array, progress: Progress | None = None, stage: str = "compute") -> np.ndarray:
    """Compute ``array`` on the active ``distributed`` client, else on dask's configured scheduler,
    calling ``progress(stage, done, total)`` after each of its ``total`` blocks.

    When a block fails, its error is raised only after every task already running has finished
    (on a client: every task), so no task still writes when the caller cleans up.
    """
    import distributed
    from dask.callbacks import Callback

    report = progress or (lambda stage, done, total: None)
    total = array.npartitions
    try:
        client = distributed.get_client()
    except ValueError:  # no client
        done = 0

        def count(key: Any, *_: Any) -> None:
            nonlocal done
            if isinstance(key, tuple) and key[0] == array.name:
                done += 1
                report(stage, done, total)

        with Callback(posttask=count):
            if dask.config.get("scheduler", None) not in (None, "threads", "threading") or dask.config.get("pool", None):
                result = array.compute()
            else:  # dask's threaded scheduler in a pool of our own: leaving it waits for its running tasks
                with _own_pool(dask.config.get("num_workers", None) or CPU_COUNT) as pool:
                    result = array.compute(scheduler="threads", pool=pool)
        if done < total:  # dask fused a block's task into the final one (a single block)
            report(stage, total, total)
        return result
    persisted = client.persist(array)
    futures = distributed.futures_of(persisted)
    for done, future in enumerate(distributed.as_completed(futures), 1):
        if future.status == "error":
            distributed.wait(futures)
            future.result()  # raises the block's error
        report(stage, done, total)
    return persisted.compute()


@contextlib.contextmanager
def _own_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool whose exit (also on an error or an interrupt) drops the tasks not yet started and
    waits for every started one.

    ``ThreadPoolExecutor.shutdown`` joins only the threads it has recorded; an interrupt that lands
    while ``submit`` waits for a new thread to start (long on a loaded machine) leaves that thread
    unrecorded but running its task, which then writes after the caller has cleaned up. The pool's
    threads are therefore also found by their name and joined.
    """
    prefix = f"codecframe-blocks-{uuid.uuid4().hex}"
    pool = ThreadPoolExecutor(workers, thread_name_prefix=prefix)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for thread in threading.enumerate():
            if thread.name.startswith(f"{prefix}_"):
                thread.join()


def row_chunks(shape: tuple[int, ...], dtype: Any, target_bytes: int = DEFAULT_CHUNK_BYTES) -> tuple[int, ...]:
    """Chunks of whole rows (every axis but the first complete) of at most about ``target_bytes`` (at
    least one row), the rows spread evenly over the fewest chunks."""
    if not shape:
        return ()
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    rows = min(max(1, target_bytes // max(row_bytes, 1)), max(shape[0], 1))
    n_chunks = -(-max(shape[0], 1) // rows)
    return (-(-max(shape[0], 1) // n_chunks), *(max(n, 1) for n in shape[1:]))


def from_npy(path: str | os.PathLike[str], chunks: Any = None, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> da.Array:
    """A dask array over a ``.npy`` file; each task reads its block through a memory map of the file.

    Only the path travels to workers (a memory-mapped array would be pickled with all its data), so
    the file must be readable where the tasks run. ``chunks`` is any dask chunk spec; the default is
    :func:`row_chunks` of ``chunk_bytes``. Object arrays are refused (no pickle).
    """
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path}: not a .npy file (an .npz archive? pass one of its arrays as .npy)")
    try:
        chunks = da.core.normalize_chunks(chunks or row_chunks(array.shape, array.dtype, chunk_bytes), array.shape,
                                         dtype=array.dtype)
    except ValueError as exc:
        raise InputError(f"{path}: chunks {chunks} do not fit its shape {array.shape} ({exc})") from None
    return da.map_blocks(functools.partial(_read_npy_block, str(path)), dtype=array.dtype, chunks=chunks,
                         meta=np.empty((0,) * array.ndim, array.dtype))


def _region(info: dict) -> tuple[slice, ...]:
    """The slices of one block's place in the whole array, from dask's ``block_info``."""
    return tuple(slice(start, stop) for start, stop in info["array-location"])


def _read_npy_block(path: str, block_info: dict | None = None) -> np.ndarray:
    return np.array(np.load(path, mmap_mode="r")[_region(block_info[None])])  # type: ignore[index]


def _write_npy_block(block: np.ndarray, path: str, block_info: dict | None = None) -> np.ndarray:
    target = np.load(path, mmap_mode="r+")
    target[_region(block_info[0])] = block  # type: ignore[index]
    target.flush()
    return np.ones((1,) * block.ndim, bool)


def _write_block(block: np.ndarray, target: zarr.Array, block_info: dict | None = None) -> np.ndarray:
    """Write one dask block, which is one zarr chunk, into its place in ``target``; a one-element
    result per block. A codecframe error names the block (``block [64:128, 0:48]: ...``), its type kept."""
    info = block_info[0]  # type: ignore[index]
    region = _region(info)
    try:
        if array_codec(target) is None:
            target[region] = block
        else:
            write_chunk(target, tuple(info["chunk-location"]), block)
    except CodecframeError as exc:
        where = ", ".join(f"{r.start}:{r.stop}" for r in region)
        exc.args = (f"block [{where}]: {exc}", *exc.args[1:])
        raise
    return np.ones((1,) * block.ndim, bool)


def write_chunk(target: zarr.Array, index: tuple[int, ...], block: np.ndarray) -> None:
    """Encode ``block``, the values of the chunk at grid ``index`` of ``target`` (an array whose chunks
    the codecframe codec codes alone; an edge chunk is padded with the fill value), with its index
    recorded, and store it under its key as zarr would (``write_empty_chunks`` included)."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    codec = array_codec(target)
    if codec is None:
        raise InputError(f"{target.store_path}: its chunks are not coded by the codecframe codec alone")
    if not target.size:
        return
    chunk = block
    fill = np.asarray(target.fill_value if target.fill_value is not None else 0, target.dtype)
    if block.shape != tuple(target.chunks):
        chunk = np.full(target.chunks, fill, target.dtype)
        chunk[tuple(slice(0, n) for n in block.shape)] = block
    if not target.config.write_empty_chunks and bool(np.all(chunk == fill)):
        return
    data = codec.encode(chunk, index=index)
    key = target.store_path / target.metadata.encode_chunk_key(index)
    sync(key.set(default_buffer_prototype().buffer.from_bytes(data)))


def array_codec(array: zarr.Array) -> ArrayCodec | None:
    """The :class:`ArrayCodec` of a zarr array whose stored chunks are exactly codecframe containers
    (the codec alone: no filters, compressors or sharding; C order), else None."""
    from .ecosystem.numcodecs_codec import Codecframe
    from .ecosystem.zarr_codec import CodecframeCodec

    if array.filters or array.shards is not None:
        return None
    if array.metadata.zarr_format == 3:
        serializer = array.serializer
        return serializer.codec if isinstance(serializer, CodecframeCodec) and not array.compressors else None
    compressors = array.compressors
    if len(compressors) == 1 and isinstance(compressors[0], Codecframe) and array.order == "C":
        return compressors[0].array_codec
    return None


def _open(array: Any) -> zarr.Array:
    if isinstance(array, zarr.Array):
        return array
    try:
        return zarr.open_array(str(array), mode="r")
    except FileNotFoundError:
        raise InputError(f"{array}: no such zarr array") from None


def read_zarr(array: Any, *, strict: bool = False, max_chunk_elements: int = MAX_ELEMENTS) -> da.Array:
    """A dask array over a zarr array (a ``zarr.Array`` or a path) whose chunks the codecframe codec
    codes alone, each task reading and checking one chunk.

    A chunk must have the array's chunk shape and dtype, and one that records its grid index (as
    :func:`to_zarr` writes them) must record the index of the key it was read from: a chunk copied or
    moved from elsewhere is a FormatError. Every codecframe error names the chunk's key (``chunk
    c/1/0: ...``), its type kept. A missing chunk reads as the fill value, as in zarr; with
    ``strict`` it is an InputError naming the key. Chunks of more than ``max_chunk_elements`` values
    are refused before anything is read (LimitError).
    """
    array = _open(array)
    codec = array_codec(array)
    if codec is None:
        raise InputError(f"{array.store_path}: its chunks are not coded by the codecframe codec alone; "
                         "read it with dask.array.from_zarr")
    if math.prod(array.chunks) > max_chunk_elements:
        raise LimitError(f"{array.store_path}: chunks of shape {list(array.chunks)} exceed the limit of "
                         f"{max_chunk_elements} elements")
    chunks = da.core.normalize_chunks(array.chunks, array.shape, dtype=array.dtype)
    return da.map_blocks(functools.partial(_read_chunk, array, codec, strict), dtype=array.dtype, chunks=chunks,
                         meta=np.empty((0,) * array.ndim, array.dtype))


def _read_chunk(array: zarr.Array, codec: ArrayCodec, strict: bool, block_info: dict | None = None) -> np.ndarray:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    info = block_info[None]  # type: ignore[index]
    index = tuple(info["chunk-location"])
    key = array.metadata.encode_chunk_key(index)
    inside = tuple(slice(0, r.stop - r.start) for r in _region(info))
    raw = sync((array.store_path / key).get(default_buffer_prototype()))
    if raw is None:
        if strict:
            raise InputError(f"chunk {key} is missing")
        fill = array.fill_value if array.fill_value is not None else 0
        return np.full([s.stop for s in inside], fill, array.dtype)
    try:
        values = codec.decode(raw.as_numpy_array(), shape=array.chunks, dtype=array.dtype, index=index)
    except CodecframeError as exc:
        exc.args = (f"chunk {key}: {exc}", *exc.args[1:])
        raise
    return values if values.shape == tuple(s.stop for s in inside) else values[inside].copy()


def stored_chunks(array: Any) -> set[tuple[int, ...]]:
    """The grid indexes of the chunks (of a sharded array: the shards) present in the store, found by
    listing it: the time taken grows with the stored objects, not with the declared grid."""
    from zarr.core.sync import collect_aiterator

    array = _open(array)
    prefix = array.store_path.path
    keys = collect_aiterator(array.store_path.store.list_prefix(prefix))
    grid = _grid(array)
    found = set()
    for key in keys:
        rel = key[len(prefix) + 1 :] if prefix else key
        index = tuple(int(n) for n in re.findall(r"\d+", rel)) if array.ndim else ()
        if len(index) == len(grid) and all(i < n for i, n in zip(index, grid)) \
                and array.metadata.encode_chunk_key(index) == rel:
            found.add(index)
    return found


def _grid(array: zarr.Array) -> tuple[int, ...]:
    """The shape of the grid of stored objects: chunks, or shards of a sharded array."""
    outer = array.shards or array.chunks
    return tuple(-(-n // c) for n, c in zip(array.shape, outer))


def missing_chunks(array: Any, limit: int = 10) -> tuple[int, list[str]]:
    """How many chunks (shards) of ``array`` are absent from its store, and the keys of up to ``limit``
    of them in grid order."""
    array = _open(array)
    grid = _grid(array)
    stored = stored_chunks(array)
    count = math.prod(grid) - len(stored)
    keys = []
    for index in itertools.product(*(range(n) for n in grid)):
        if len(keys) >= min(limit, count):
            break
        if index not in stored:
            keys.append(array.metadata.encode_chunk_key(index))
    return count, keys


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
