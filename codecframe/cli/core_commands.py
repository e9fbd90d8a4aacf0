"""Core subcommands: plugins, encode, decode, info, demo."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import canonical, container
from ..errors import InputError
from ..io import atomic_write, read_bytes
from ..pipeline import MAX_ELEMENTS, Pipeline, check_header, decode
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
                   help=f"refuse files whose groups hold more than N values together; N in [0, {MAX_ELEMENTS}], "
                        f"the spec's limit, which N can only lower (default {MAX_ELEMENTS})")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="show a container's header, components, streams and checksums")
    p.add_argument("input", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output (the complete header)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="every group's full setting and side info (per-row bit widths, ...) and stream checksums")
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


def _brief(value: Any) -> str:
    """A short rendering of a setting or side-info value: long lists and arrays become their size and range."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_brief(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, np.ndarray):
        what = f"{value.dtype.name}{list(value.shape)}"
        if value.size and value.dtype.kind in "biuf":
            return f"{what} {value.min()}..{value.max()}"
        return what
    if isinstance(value, list):
        if len(value) <= 4:
            return "[" + ", ".join(_brief(v) for v in value) + "]"
        numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        span = f" {min(numbers)}..{max(numbers)}, mean {sum(numbers) / len(numbers):.4g}" if len(numbers) == len(value) else ""
        return f"[{len(value)} values{span}]"
    return json.dumps(value)


def describe_file(raw: bytes, name: str = "") -> dict[str, Any]:
    """What ``codecframe info --json`` prints: the verified header (same schema check as decode), the streams
    and, per group, the element count, stream size and side-info size."""
    return _inspect(raw, name)[1]


def _inspect(raw: bytes, name: str) -> tuple[container.Container, dict[str, Any]]:
    box = container.read(raw)
    check_header(box, MAX_ELEMENTS)
    header = box.header
    streams = [{"index": i, "bytes": len(s), "crc32": f"{zlib.crc32(s) & 0xFFFFFFFF:08x}"} for i, s in enumerate(box.streams)]
    groups = []
    for i, g in enumerate(header["groups"]):
        elements = math.prod(g["shape"])
        groups.append({"name": g["name"], "elements": elements, "stream_bytes": len(box.streams[i]),
                       "bits_per_element": 8 * len(box.streams[i]) / max(elements, 1),
                       "side_bytes": len(canonical.pack(g["side"]))})
    return box, {"file": name, "bytes": len(raw), "format": f"{box.version[0]}.{box.version[1]}",
                 "header": _jsonable(header), "streams": streams, "groups": groups}


def info_lines(raw: bytes, name: str = "", *, verbose: bool = False) -> list[str]:
    """The text of ``codecframe info``: one line per group (shape, dtype, setting in brief, bits, side-info
    size); ``verbose`` adds every group's full setting and side info and the stream checksums."""
    box, info = _inspect(raw, name)
    header, streams = box.header, info["streams"]
    out = [f"{name}: codecframe container {info['format']}, {len(raw)} bytes, {len(streams)} stream(s)"]
    prov = header.get("provenance", {})
    for role, cfg in header["pipeline"].items():
        src = prov.get(role)
        src = src if isinstance(src, dict) else {}
        config = json.dumps(_jsonable(cfg), sort_keys=True) if verbose else _brief(cfg)
        out.append(f"  {role:14s} {config}  [{src.get('distribution', '?')} {src.get('version', '')}]")
    for i, (g, summary) in enumerate(zip(header["groups"], info["groups"])):
        out.append(f"  group {g['name']!r}: shape {list(g['shape'])} {g['dtype']}, setting {_brief(g['setting'])}, "
                   f"{g['count']} symbols in {summary['stream_bytes']} bytes "
                   f"({summary['bits_per_element']:.3f} bits/value), side info {summary['side_bytes']} bytes")
        if verbose:
            out.append(f"    setting {json.dumps(_jsonable(g['setting']), sort_keys=True)}")
            out.append(f"    side {json.dumps(_jsonable(g['side']), sort_keys=True)}")
            out.append(f"    stream {i} crc32 {streams[i]['crc32']}")
    extras = header.get("extras", [])
    extra_streams = streams[len(header["groups"]):]
    if verbose:
        for e, s in zip(extras, extra_streams):
            out.append(f"  extra {e['name']!r}: shape {list(e['shape'])} {e['dtype']}, {s['bytes']} bytes (crc32 {s['crc32']})")
    elif extras:
        listed = ", ".join(f"{e['name']} {list(e['shape'])} {e['dtype']}" for e in extras[:4])
        more = f", … ({len(extras) - 4} more; --verbose lists them)" if len(extras) > 4 else ""
        out.append(f"  extras: {len(extras)} raw array(s), {sum(s['bytes'] for s in extra_streams)} bytes: {listed}{more}")
    if info["groups"]:
        values = sum(g["elements"] for g in info["groups"])
        coded = sum(g["stream_bytes"] + g["side_bytes"] for g in info["groups"])
        out.append(f"  total: {len(info['groups'])} group(s), {values} values, {coded} bytes of streams and side info "
                   f"({8 * coded / max(values, 1):.3f} bits/value); {len(extras)} extra array(s)")
    if header.get("meta"):
        meta = json.dumps(_jsonable(header["meta"]), sort_keys=True)
        out.append(f"  meta: {meta if verbose or len(meta) <= 300 else meta[:300] + ' … (--verbose shows all)'}")
    return out


def cmd_info(args: argparse.Namespace) -> int:
    raw = read_bytes(args.input)
    if args.json:
        print(json.dumps(describe_file(raw, str(args.input)), indent=2))
    else:
        print("\n".join(info_lines(raw, str(args.input), verbose=args.verbose)))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_all

    rows = run_all(args.workdir)
    print(_table(rows, ["plugin", "case", "bits", "bits_per_element", "distortion"]))
    return 1 if any(r["case"] == "FAILED" for r in rows) else 0
