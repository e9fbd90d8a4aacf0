"""Fuzz targets over the container reader and every decoder, seeded from the conformance vectors.

An input is one *mode* byte followed by a payload:

- mode 0: the payload is a file, decoded as is (byte-level mutations, mostly stopped by CRCs);
- mode 1: the payload is a file whose CRCs are recomputed first, so mutations reach the header
  parser, the registry, the quantizers' side info and the entropy decoders;
- mode 2: the payload drives edits of a seed's *header values* (any leaf of the header map:
  settings, side info, shapes, counts, configs) with canonical re-encoding and valid CRCs;
- mode 3: the payload drives byte edits inside a seed's *stream payloads* with valid CRCs.

Header edits are *header-aware*: they replace any leaf or sub-tree with boundary numbers (2^64−1,
1e300, NaN, ∞), other types (a list for a map and back, strings, bytes, nil, bool), dtype names or
odd ndarrays, delete keys or duplicate list entries, then re-encode canonically and repair the CRCs.

``check(target, data, seeds)`` returns "ok" or "rejected" (a CodecframeError) and lets any
other exception propagate: that is a crash, which the engines record with :func:`record_crash`
(input file plus a signature line) and then continue. A :class:`PluginError` (a component's
foreign exception, wrapped by the pipeline), an :class:`OutOfMemoryError` and a numpy
``RuntimeWarning`` count as crashes too: they are bugs the wrapping would otherwise hide.

Targets: ``container`` (the reader), ``core``/``vbq``/``bayesq``/``gmvq`` (``codecframe.decode``
seeded with that distribution's vectors), ``all`` (decode, seeded with every positive vector),
``info`` (what ``codecframe info --verbose`` and ``--json`` compute) and ``cli`` (``codecframe info``
and ``codecframe decode`` through ``main()`` on a file: exit codes 0–3 only, never an exception).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import json
import os
import struct
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import codecframe
from codecframe import canonical, container
from codecframe.conformance import Corpus, default_corpus, surgery
from codecframe.canonical import DTYPE_CODES
from codecframe.cli import core_commands
from codecframe.cli import main as cli_module
from codecframe.errors import CodecframeError, OutOfMemoryError, PluginError

__all__ = ["TARGETS", "seeds_for", "seed_inputs", "materialize", "check", "signature", "record_crash", "Choices"]


class Choices:
    """Deterministic choices read from fuzzer bytes (zeros once exhausted)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def int(self, n: int) -> int:
        """An integer in [0, n)."""
        if n <= 1:
            return 0
        v = 0
        for _ in range((n.bit_length() + 7) // 8):
            v = (v << 8) | self.byte()
        return v % n

    def raw(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    @property
    def left(self) -> int:
        return max(len(self.data) - self.pos, 0)


_INTS = (0, 1, -1, 2, 7, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -(2**31), 2**32, 2**37, 2**53, 2**63 - 1, -(2**63),
         2**64 - 1, 1 << 28, (1 << 28) + 1)
_FLOATS = (0.0, -0.0, 1e-300, 1e300, 1.7976931348623157e308, 0.5, -1.0, 3.0, float("inf"), float("nan"), 5e-324)
_DTYPES = ("int8", "uint8", "int32", "uint32", "int64", "float32", "float64", "bool")


def _value(ch: Choices, old: Any) -> Any:
    """A replacement for a header leaf: boundary numbers, small changes, other types, odd arrays."""
    kind = ch.int(13)
    if kind == 10:
        return list(DTYPE_CODES)[ch.int(len(DTYPE_CODES))] if ch.int(4) else "complex128"
    if kind == 11 and isinstance(old, dict):  # a map becomes a list (of its values or its keys)
        return list(old.values()) if ch.int(2) else list(old)
    if kind == 11 and isinstance(old, list):  # a list becomes a map
        return {str(i): v for i, v in enumerate(old)}
    if kind == 12:
        return [old] if ch.int(2) else {"x": old}
    if kind == 0:
        return _INTS[ch.int(len(_INTS))]
    if kind == 1 and isinstance(old, int) and not isinstance(old, bool):
        return max(min(old + ch.int(7) - 3, 2**63 - 1), -(2**63))
    if kind == 2:
        return _FLOATS[ch.int(len(_FLOATS))]
    if kind == 3:
        return ch.raw(ch.int(8)).decode("latin-1")
    if kind == 4:
        return ch.raw(ch.int(16))
    if kind == 5:
        return [_INTS[ch.int(len(_INTS))] for _ in range(ch.int(5))]
    if kind == 6:
        return {}
    if kind == 7:
        return None if ch.int(2) else bool(ch.int(2))
    if kind == 8 and isinstance(old, np.ndarray) and old.size:
        arr = old.copy()
        for _ in range(1 + ch.int(4)):
            new = _INTS[ch.int(len(_INTS))] % 256 if arr.dtype.kind in "iub" else _FLOATS[ch.int(len(_FLOATS))]
            with np.errstate(all="ignore"):  # e.g. 1e300 into float16: inf, as intended
                arr.flat[ch.int(arr.size)] = np.array(new).astype(arr.dtype)
        return arr
    dtype = np.dtype(_DTYPES[ch.int(len(_DTYPES))])
    shape = tuple(ch.int(5) for _ in range(ch.int(3)))
    count = int(np.prod(shape, dtype=np.int64))
    raw = ch.raw(count * dtype.itemsize).ljust(count * dtype.itemsize, b"\0")
    return np.frombuffer(raw, dtype).reshape(shape).copy()


def _leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every leaf and container of a header map (containers can be replaced too)."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k in sorted(obj):
            out += _leaves(obj[k], (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _leaves(v, (*path, i))
    return out


@functools.lru_cache(maxsize=256)
def _parsed(seed: bytes) -> tuple[dict[str, Any], int]:
    box = container.read(seed)
    return {k: v for k, v in box.header.items() if k != "streams"}, len(box.streams)


def _edit_header(seed: bytes, ch: Choices) -> bytes:
    parsed, nstreams = _parsed(seed)
    header = copy.deepcopy(parsed)
    for _ in range(1 + ch.int(3)):
        paths = _leaves(header)
        path = paths[ch.int(len(paths))]
        parent = header
        for key in path[:-1]:
            parent = parent[key]
        action = ch.int(8)
        if action == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == 1 and isinstance(parent, list):
            parent.append(parent[path[-1]])
        else:
            parent[path[-1]] = _value(ch, parent[path[-1]])
    try:
        head = canonical.pack({**header, "streams": nstreams})
    except CodecframeError:
        return seed
    return surgery.replace_header(seed, head)


def _edit_streams(seed: bytes, ch: Choices) -> bytes:
    lay = surgery.layout(seed)
    if not lay.streams:
        return seed
    buf = bytearray(seed)
    for _ in range(1 + ch.int(6)):
        _, start, length = lay.streams[ch.int(len(lay.streams))]
        if length:
            pos = start + ch.int(length)
            buf[pos] = buf[pos] ^ (1 << ch.int(8)) if ch.int(2) else ch.byte()
    out = bytes(buf)
    if ch.int(4) == 0:  # change a stream's length too (payload cut short or extended)
        length_at, start, length = lay.streams[ch.int(len(lay.streams))]
        cut = ch.int(min(length, 64) + 1)
        extra = ch.raw(ch.int(9))
        out = out[:start] + out[start : start + length - cut] + extra + out[start + length :]
        out = surgery.patch(out, length_at, struct.pack("<Q", length - cut + len(extra)))
    return surgery.fix_checksums(out)


def materialize(data: bytes, seeds: list[bytes]) -> bytes:
    """The file an input stands for (see the module docstring)."""
    if not data:
        return b""
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        return rest
    if mode == 1:
        return surgery.fix_checksums(rest)
    ch = Choices(rest)
    seed = seeds[ch.int(len(seeds))]
    return _edit_header(seed, ch) if mode == 2 else _edit_streams(seed, ch)


def _read(data: bytes) -> None:
    container.read(data)


def _decode(data: bytes) -> None:
    codecframe.decode(data)


def _info(data: bytes) -> None:
    core_commands.describe_file(data)
    core_commands.info_lines(data, "fuzz.cfr", verbose=True)
    core_commands.info_lines(data, "fuzz.cfr")


_CLI_DIR = tempfile.mkdtemp(prefix="codecframe-fuzz-cli-")
#: One parser for all inputs: building it (scanning the plugins' command entry points) is 90 % of a call.
cli_module.build_parser = functools.lru_cache(maxsize=1)(cli_module.build_parser)


def _cli(data: bytes) -> None:
    path, out = os.path.join(_CLI_DIR, "in.cfr"), os.path.join(_CLI_DIR, "out.npz")
    with open(path, "wb") as fh:
        fh.write(data)
    for argv in (["info", path], ["info", "--json", path], ["decode", path, "-o", out]):
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = cli_module.main(argv)
        if code not in (0, 1, 2, 3) or "Traceback" in sink.getvalue():
            raise AssertionError(f"codecframe {argv[0]} exited with {code}: {sink.getvalue()[-300:]}")
        if code == 2:
            raise MemoryError(f"codecframe {argv[0]} ran out of memory: {sink.getvalue()[-300:]}")
        if ") failed in " in sink.getvalue():  # a PluginError: a component's foreign exception
            raise RuntimeError(f"codecframe {argv[0]}: {sink.getvalue()[-300:]}")
        if code:
            raise CodecframeError(f"codecframe {argv[0]} refused the file (exit {code})")


def _vectors(corpus: Corpus) -> list[tuple[dict[str, Any], bytes]]:
    return [(v.case, v.file(v.case["file"])) for v in corpus.vectors() if v.kind == "positive"]


def seeds_for(target: str, corpus: Corpus | None = None) -> list[bytes]:
    """Seed files of ``target``: all positive vectors (container), core-only ones (core), or those
    whose components come from the plugin distribution ``codecframe-<target>``."""
    vectors = _vectors(corpus or Corpus(default_corpus()))
    if target in ("container", "all", "info", "cli"):
        chosen = [data for _, data in vectors]
    elif target == "core":
        chosen = [data for case, data in vectors if case["requires"] == ["codecframe"]]
    else:
        chosen = [data for case, data in vectors if f"codecframe-{target}" in case["requires"]]
    if not chosen:
        raise SystemExit(f"no conformance vectors to seed target {target!r}")
    return chosen


#: Target name -> the function fuzzed.
TARGETS: dict[str, Callable[[bytes], None]] = {
    "container": _read,
    "core": _decode,
    "vbq": _decode,
    "bayesq": _decode,
    "gmvq": _decode,
    "all": _decode,
    "info": _info,
    "cli": _cli,
}


def check(target: str, data: bytes, seeds: list[bytes]) -> str:
    """Run one input; "ok" or "rejected". Any non-codecframe exception propagates (a crash), and so do
    the cause of a PluginError, an OutOfMemoryError and a numpy RuntimeWarning (as an exception)."""
    file = materialize(data, seeds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            TARGETS[target](file)
    except (PluginError, OutOfMemoryError) as exc:
        raise (exc.__cause__ or exc) from None
    except CodecframeError:
        return "rejected"
    return "ok"


def signature(exc: BaseException) -> str:
    """``Type at file:line`` of the innermost frame: crashes with one cause share it."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
    return f"{type(exc).__name__} at {where}"


def record_crash(artifacts: Path, target: str, data: bytes, exc: BaseException) -> None:
    """Save the input and append ``{signature, input, message}`` to ``<target>-crashes.jsonl``."""
    artifacts.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()
    (artifacts / f"{target}-crash-{digest}.bin").write_bytes(data)
    line = json.dumps({"signature": signature(exc), "input": digest, "message": str(exc)[:300]})
    with open(artifacts / f"{target}-crashes.jsonl", "a") as fh:
        fh.write(line + "\n")


def seed_inputs(seeds: list[bytes]) -> list[bytes]:
    """Initial inputs: every seed in modes 0 and 1, plus a few structured edits of each."""
    out = []
    for i, s in enumerate(seeds):
        out += [b"\x00" + s, b"\x01" + s]
        pick = bytes([i % 256])
        out += [b"\x02" + pick + bytes([k]) * 16 for k in range(4)] + [b"\x03" + pick + bytes([k]) * 16 for k in range(4)]
    return out
