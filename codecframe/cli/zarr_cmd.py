"""``codecframe zarr``: compress arrays into zarr stores chunk-parallel, decompress them, inspect them.

Needs the ``ecosystem`` extra (zarr, dask, distributed). ``--workers 0`` runs dask's threaded
scheduler in this process; ``--workers N`` starts a ``codecframe.dask.local_cluster`` of N worker
processes on loopback and warms the coder in each before the work starts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CodecframeError, InputError, LimitError, RegistryError
from ..io import atomic_directory, stale_temporaries
from ..pipeline import MAX_ELEMENTS, load_config
from .progress import StderrProgress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zarr", help="chunk-parallel compression into zarr arrays on dask (codecframe[ecosystem])")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    c = actions.add_parser("compress", help="compress a .npy file or a zarr array into a new zarr array")
    c.add_argument("input", type=Path, help=".npy file or zarr array (with --std: the means)")
    c.add_argument("-o", "--output", required=True, type=Path, help="new zarr store, a directory (written atomically)")
    c.add_argument("-c", "--config", required=True,
                   help="codec config (a pipeline config plus array options): .json or .toml file, or JSON text")
    c.add_argument("--std", type=Path, help="standard deviations aligned with INPUT: store both as one mean/std array")
    c.add_argument("--chunks", type=_shape, help="chunk shape, e.g. 1024,4096 (default: a zarr input's chunks, "
                                                 "else whole rows of about 16 MiB)")
    c.add_argument("--zarr-format", type=int, choices=(2, 3), default=3)
    c.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    _common(c)
    c.set_defaults(func=cmd_compress)

    d = actions.add_parser("decompress", help="decode a zarr array into a .npy file")
    d.add_argument("input", type=Path, help="zarr array")
    d.add_argument("-o", "--output", required=True, type=Path, help="output .npy (written atomically)")
    d.add_argument("--max-elements", type=int, default=MAX_ELEMENTS, metavar="N",
                   help=f"refuse arrays of more than N elements (default {MAX_ELEMENTS})")
    d.add_argument("--strict", action="store_true",
                   help="fail when chunks are missing (by default they read as the fill value, as in zarr)")
    _common(d)
    d.set_defaults(func=cmd_decompress)

    i = actions.add_parser("info", help="show a zarr array's shape, chunks, codec config and stored size")
    i.add_argument("input", type=Path)
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_info)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="0: threads in this process (default); N: a local cluster of N worker processes")
    p.add_argument("--progress", action="store_true", default=None, help="force progress output on stderr")


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if any(n < 1 for n in shape):
        raise argparse.ArgumentTypeError(f"chunk sizes must be positive, got {text!r}")
    return shape


def _ecosystem() -> Any:
    try:
        from .. import dask as cfdask
    except ImportError as exc:
        raise RegistryError(f"'codecframe zarr' needs zarr, dask and distributed: pip install 'codecframe[ecosystem]' "
                            f"({exc})") from None
    return cfdask


#: Most chunks a zarr array may declare for ``compress`` and ``decompress``: one dask task each.
MAX_CHUNKS = 1 << 20


def _check_tasks(path: Path, shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    """Refuse (LimitError) a grid of more than MAX_CHUNKS chunks before a task graph is built for it."""
    grid = math.prod(-(-n // c) for n, c in zip(shape, chunks))
    if grid > MAX_CHUNKS:
        raise LimitError(f"{path}: shape {list(shape)} in chunks {list(chunks)} makes {grid} chunks, "
                         f"more than the {MAX_CHUNKS} this command schedules")


def _open_zarr(path: Path, *, tasks: bool = False) -> Any:
    """The zarr array at ``path``; with ``tasks``, its chunk grid checked by _check_tasks."""
    import zarr

    try:
        array = zarr.open_array(str(path), mode="r")
    except FileNotFoundError:
        left = [p.name for p in stale_temporaries(path) if p.name.endswith(".old")]
        hint = f" (a killed 'zarr compress' left it in {left[0]}; rerun that command to restore or finish it)" if left else ""
        raise InputError(f"{path}: no such zarr array{hint}") from None
    except (zarr.errors.BaseZarrError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a readable zarr array ({type(exc).__name__}: {exc})") from None
    if tasks:
        _check_tasks(path, array.shape, array.chunks)
    return array


def _source(path: Path, chunks: Any, fields: int = 1) -> Any:
    """A dask array over a .npy file or a zarr array; default chunks: the zarr array's, or whole rows
    of about ``DEFAULT_CHUNK_BYTES`` once ``fields`` arrays of this dtype are stored together."""
    import dask.array as da

    cfdask = _ecosystem()
    if path.is_dir():
        array = _open_zarr(path)
        if chunks is not None and len(chunks) != array.ndim:
            raise InputError(f"--chunks {list(chunks)} has {len(chunks)} sizes for {array.ndim} dimension(s) of {path}")
        _check_tasks(path, array.shape, chunks or array.chunks)
        return da.from_zarr(array, chunks=chunks or array.chunks)
    if path.suffix != ".npy":
        raise InputError(f"{path}: expected a .npy file or a zarr array (a directory)")
    return cfdask.from_npy(path, chunks, chunk_bytes=cfdask.DEFAULT_CHUNK_BYTES // fields)


@contextlib.contextmanager
def _scheduler(workers: int, config: dict[str, Any] | None) -> Iterator[None]:
    """dask's threaded scheduler, or a local cluster of ``workers`` processes (coder warmed with ``config``)."""
    import dask

    if workers < 0:
        raise InputError(f"--workers must be 0 or more, got {workers}")
    if workers == 0:
        with dask.config.set(scheduler="threads"):
            yield
        return
    import distributed

    cfdask = _ecosystem()
    # workers log every failed task with a traceback; the error itself reaches the caller
    with cfdask.local_cluster(n_workers=workers, silence_logs=logging.CRITICAL) as cluster, \
            distributed.Client(cluster) as client:
        if config is not None:
            cfdask.warm_up(client, config)
        yield


def cmd_compress(args: argparse.Namespace) -> int:
    cfdask = _ecosystem()
    config = dict(load_config(args.config))
    source = _source(args.input, args.chunks, fields=1 if args.std is None else 2)
    if args.std is not None:
        source = cfdask.mean_std(source, _source(args.std, args.chunks, fields=2))
    with atomic_directory(args.output, overwrite=args.overwrite) as store, _scheduler(args.workers, config):
        target = cfdask.to_zarr(source, str(store), config, zarr_format=args.zarr_format,
                                progress=StderrProgress(args.progress))
    stored = sum(p.stat().st_size for p in args.output.rglob("*") if p.is_file())
    print(f"wrote {args.output}: shape {list(source.shape)} {source.dtype} in {target.nchunks} chunk(s), "
          f"{stored} bytes, {8 * stored / max(source.size, 1):.4f} bits per element")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    """Chunks coded by codecframe alone are read with their shape and place checked (``read_zarr``);
    an error names the chunk's key. Missing chunks are reported, and with --strict refused."""
    import dask.array as da

    cfdask = _ecosystem()
    array = _open_zarr(args.input, tasks=True)
    if array.size > args.max_elements:
        raise LimitError(f"{args.input}: {array.size} elements exceed --max-elements {args.max_elements}")
    count, keys = cfdask.missing_chunks(array)
    if count:
        listed = ", ".join(keys) + (", ..." if count > len(keys) else "")
        if args.strict:
            raise InputError(f"{args.input}: {count} chunk(s) missing ({listed})")
        print(f"codecframe: warning: {args.input}: {count} chunk(s) missing, read as the fill value ({listed}); "
              "--strict refuses", file=sys.stderr)
    try:
        source = cfdask.read_zarr(array, strict=args.strict, max_chunk_elements=args.max_elements) \
            if cfdask.array_codec(array) is not None else da.from_zarr(array)
        with _scheduler(args.workers, None):
            cfdask.to_npy(source, args.output, progress=StderrProgress(args.progress))
    except CodecframeError as exc:
        exc.args = (f"{args.input}: {exc}", *exc.args[1:])
        raise
    print(f"wrote {args.output}: shape {list(array.shape)} {array.dtype}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Sizes come from the metadata and a listing of the store: nothing scales with the declared grid."""
    cfdask = _ecosystem()
    array = _open_zarr(args.input)
    codecs = [*([array.serializer] if array.serializer is not None else []), *array.filters, *array.compressors]
    stored = array.nbytes_stored()
    per_object = math.prod(array.shards) // math.prod(array.chunks) if array.shards else 1
    total = math.prod(-(-n // c) for n, c in zip(array.shape, array.chunks))
    info = {
        "store": str(args.input), "zarr_format": array.metadata.zarr_format, "shape": list(array.shape),
        "dtype": str(array.dtype), "chunks": list(array.chunks),
        "chunks_stored": len(cfdask.stored_chunks(array)) * per_object,
        "chunks_total": total, "bytes_stored": stored, "bits_per_element": 8 * stored / max(array.size, 1),
        "codecs": [_codec_json(c) for c in codecs],
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{args.input}: zarr v{info['zarr_format']} array, shape {info['shape']} {info['dtype']}, chunks {info['chunks']} "
          f"({info['chunks_stored']} of {info['chunks_total']} stored), {stored} bytes, "
          f"{info['bits_per_element']:.4f} bits per element")
    for codec in info["codecs"]:
        print(f"  codec {json.dumps(codec, sort_keys=True)}")
    return 0


def _codec_json(codec: Any) -> Any:
    """A codec's config as zarr (v3) or numcodecs (v2) writes it."""
    return codec.to_dict() if hasattr(codec, "to_dict") else codec.get_config()
