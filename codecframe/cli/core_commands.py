"""Core subcommands: plugins, encode, decode, info, demo."""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import container
from ..errors import InputError
from ..io import atomic_write, read_bytes
from ..pipeline import MAX_ELEMENTS, Pipeline, decode
from ..registry import registry
from .progress import StderrProgress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list installed components (id, kind, version, distribution)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("encode", help="compress an .npz of posterior arrays with a pipeline config")
    p.add_argument("input", type=Path, help="NPZ with arrays NAME.FIELD (e.g. x.mean, x.std) or FIELD for one group 'data'")
    p.add_argument("-c", "--config", required=True, help="pipeline config: .json or .toml file, or JSON text")
    p.add_argument("-o", "--output", required=True, type=Path, help="output .cfr file (written atomically)")
    p.add_argument("--progress", action="store_true", default=None, help="force progress output on stderr")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decompress a .cfr file into an .npz of reconstructions")
    p.add_argument("input", type=Path)
    p.add_argument("-o", "--output", required=True, type=Path, help="output .npz (groups by name, extras as extra.NAME)")
    p.add_argument("--progress", action="store_true", default=None, help="force progress output on stderr")
    p.add_argument("--max-elements", type=int, default=MAX_ELEMENTS, metavar="N",
                   help=f"refuse files whose groups hold more than N values together (default {MAX_ELEMENTS})")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="show a container's header, components, streams and checksums")
    p.add_argument("input", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="end-to-end demo: compress and decompress real files with every installed plugin")
    p.add_argument("--workdir", type=Path, default=Path("demo-output"), help="where the demo writes its files")
    p.set_defaults(func=cmd_demo)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cmd_plugins(args: argparse.Namespace) -> int:
    rows = registry.listing()
    failed = [{"group": ep.group, "name": ep.name, "distribution": ep.distribution, "error": err}
              for ep, err in getattr(args, "_plugin_failures", [])]
    if args.json:
        print(json.dumps({"components": rows, "command_failures": failed}, indent=2))
    else:
        print(_table(rows, ["kind", "id", "version", "distribution", "dist_version", "status"]))
        for r in rows:
            if r["status"] == "error":
                print(f"error: {r['kind']} {r['id']!r} ({r['distribution']}): {r['error']}", file=sys.stderr)
        for f in failed:
            print(f"error: command {f['name']!r} ({f['distribution']}): {f['error']}", file=sys.stderr)
    return 0 if not any(r["status"] == "error" for r in rows) and not failed else 1


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    data = read_bytes(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None


def cmd_encode(args: argparse.Namespace) -> int:
    pipe = Pipeline.from_config(args.config)
    arrays = _read_npz(args.input)
    fields = pipe.posterior_cls.fields
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in arrays.items():
        name, _, field = key.rpartition(".")
        grouped.setdefault(name or "data", {})[field] = arr
    for name, parts in grouped.items():
        extra = set(parts) - set(fields)
        if extra:
            raise InputError(f"{args.input}: group {name!r} has array(s) {', '.join(sorted(extra))}; "
                             f"the posterior {pipe.posterior_cls.id!r} takes {', '.join(fields)}")
    groups = {name: pipe.posterior_cls(**parts) for name, parts in grouped.items()}
    data = pipe.encode(groups, progress=StderrProgress(args.progress))
    atomic_write(args.output, data)
    total = sum(g.size for g in groups.values())
    print(f"wrote {args.output}: {len(data)} bytes, {8 * len(data) / max(total, 1):.4f} bits per element")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    decoded = decode(read_bytes(args.input), progress=StderrProgress(args.progress), max_elements=args.max_elements)
    out = dict(decoded.arrays)
    out.update({f"extra.{k}": v for k, v in decoded.extras.items()})
    buf = io.BytesIO()
    np.savez(buf, **out)
    atomic_write(args.output, buf.getvalue())
    print(f"wrote {args.output}: {len(decoded.arrays)} group(s), {len(decoded.extras)} extra array(s)")
    return 0


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"ndarray": {"dtype": obj.dtype.name, "shape": list(obj.shape)}}
    if isinstance(obj, bytes):
        return {"bytes": len(obj)}
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def cmd_info(args: argparse.Namespace) -> int:
    raw = read_bytes(args.input)
    box = container.read(raw)
    header = box.header
    streams = [{"index": i, "bytes": len(s), "crc32": f"{zlib.crc32(s) & 0xFFFFFFFF:08x}"} for i, s in enumerate(box.streams)]
    info = {
        "file": str(args.input),
        "bytes": len(raw),
        "format": f"{box.version[0]}.{box.version[1]}",
        "header": _jsonable(header),
        "streams": streams,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{args.input}: codecframe container {info['format']}, {len(raw)} bytes, {len(streams)} stream(s)")
    pipeline = header.get("pipeline", {})
    prov = header.get("provenance", {})
    for role, cfg in pipeline.items():
        src = prov.get(role, {}) if isinstance(prov, dict) else {}
        print(f"  {role:14s} {json.dumps(cfg, sort_keys=True)}  [{src.get('distribution', '?')} {src.get('version', '')}]")
    groups = header.get("groups", [])
    extras = header.get("extras", [])
    for i, g in enumerate(groups):
        s = streams[i] if i < len(streams) else {"bytes": "?", "crc32": "?"}
        print(f"  group {g.get('name')!r}: shape {g.get('shape')} {g.get('dtype')}, setting {json.dumps(g.get('setting'))}, "
              f"{g.get('count')} symbols in {s['bytes']} bytes (crc32 {s['crc32']})")
    for j, e in enumerate(extras):
        s = streams[len(groups) + j]
        print(f"  extra {e.get('name')!r}: shape {e.get('shape')} {e.get('dtype')}, {s['bytes']} bytes (crc32 {s['crc32']})")
    if header.get("meta"):
        print(f"  meta: {json.dumps(_jsonable(header['meta']), sort_keys=True)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_all

    rows = run_all(args.workdir)
    print(_table(rows, ["plugin", "case", "bits", "bits_per_element", "distortion"]))
    return 1 if any(r["case"] == "FAILED" for r in rows) else 0
