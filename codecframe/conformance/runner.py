"""Check a decoder against the conformance corpus.

A *decoder* maps a ``.cfr`` path to an :class:`Outcome`: the decoded symbols and reconstructions
per group (and extras), or the error it reported. :class:`InProcessDecoder` is this installation;
:class:`CommandDecoder` runs any program through the external-decoder protocol of
``specs/conformance.md``::

    CMD {in} {out} [{assets}]
                      exit 0 and write {out} as .npz with symbols.<group> (int32), values.<group>
                      and extras.<name>; or exit non-zero to reject the file, naming the error
                      class (specs/bitstream.md §8) on the last line of stderr. The corpus's asset
                      store (files sha256-<hex>.bin) is {assets} and $CODECFRAME_CONFORMANCE_ASSETS.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import shlex
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import canonical, errors
from ..errors import CodecframeError
from ..io import read_bytes
from .corpus import MAX_VECTOR_FILE, Corpus, CorpusError, Vector, sha256, symbols_sha256, values_sha256
from .decoding import decode_with_symbols

__all__ = ["Outcome", "InProcessDecoder", "CommandDecoder", "Result", "run", "check_vector", "error_lineage", "ASSETS_ENV"]

#: The environment variable that tells an external decoder where the corpus's asset store is.
ASSETS_ENV = "CODECFRAME_CONFORMANCE_ASSETS"

_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z0-9]*Error)\b")


def error_lineage(name: str) -> tuple[str, ...]:
    """``name`` and the names of its base classes up to CodecframeError (just ``name`` if unknown)."""
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, CodecframeError)):
        return (name,)
    return tuple(c.__name__ for c in cls.__mro__ if issubclass(c, CodecframeError))


@dataclasses.dataclass
class Outcome:
    """What a decoder produced for one file: arrays by group name, or an error."""

    symbols: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    values: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    extras: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    meta_sha256: str | None = None
    error: str | None = None
    #: The error's class and base classes by name (the in-process decoder knows them all).
    error_classes: tuple[str, ...] = ()
    message: str = ""
    seconds: float = 0.0


class InProcessDecoder:
    """This installation's decoder (``codecframe.decode`` plus the symbols of every group)."""

    name = "codecframe (in-process)"
    reports_error_class = True

    def __call__(self, path: Path) -> Outcome:
        t0 = time.perf_counter()
        try:
            result = decode_with_symbols(read_bytes(path, MAX_VECTOR_FILE))
        except CodecframeError as exc:
            classes = tuple(c.__name__ for c in type(exc).__mro__ if issubclass(c, CodecframeError))
            return Outcome(error=type(exc).__name__, error_classes=classes, message=str(exc),
                           seconds=time.perf_counter() - t0)
        d = result.decoded
        return Outcome(
            symbols=result.symbols,
            values=dict(d.arrays),
            extras=dict(d.extras),
            meta_sha256=sha256(canonical.pack(d.meta)),
            seconds=time.perf_counter() - t0,
        )


class CommandDecoder:
    """An external decoder run as ``template`` with ``{in}``, ``{out}`` and ``{assets}`` replaced by paths.

    ``assets`` is the corpus's asset store (``Corpus.asset_dir``); it is also passed in the
    environment as ``CODECFRAME_CONFORMANCE_ASSETS``. The template must not name ``{assets}`` without it.
    """

    def __init__(self, template: str, timeout: float = 60.0, assets: str | os.PathLike[str] | None = None) -> None:
        self.argv = shlex.split(template)
        if not any("{in}" in a for a in self.argv) or not any("{out}" in a for a in self.argv):
            raise errors.InputError(f"decoder command {template!r} must contain {{in}} and {{out}}")
        if assets is None and any("{assets}" in a for a in self.argv):
            raise errors.InputError(f"decoder command {template!r} names {{assets}} but no asset store was given")
        self.name = template
        self.timeout = timeout
        self.assets = None if assets is None else Path(assets).resolve()
        self.reports_error_class = False

    def __call__(self, path: Path) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="cfr-conformance-") as tmp:
            out = Path(tmp) / "decoded.npz"
            subst = {"{in}": str(path), "{out}": str(out), "{assets}": str(self.assets)}
            argv = [_substitute(a, subst) for a in self.argv]
            env = dict(os.environ)
            env.pop(ASSETS_ENV, None)
            if self.assets is not None:
                env[ASSETS_ENV] = str(self.assets)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(argv, capture_output=True, timeout=self.timeout, check=False, env=env)
            except subprocess.TimeoutExpired:
                return Outcome(error="Timeout", message=f"no answer within {self.timeout:g} s", seconds=self.timeout)
            except OSError as exc:
                return Outcome(error="NotRunnable", message=str(exc), seconds=time.perf_counter() - t0)
            seconds = time.perf_counter() - t0
            stderr = proc.stderr.decode("utf-8", "replace").strip()
            last = stderr.splitlines()[-1] if stderr else ""
            if proc.returncode != 0:
                found = _ERROR_NAME.findall(last)
                return Outcome(error=found[0] if found else "Rejected", message=last or f"exit status {proc.returncode}",
                               seconds=seconds)
            try:
                return _read_protocol_npz(out, seconds)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, CodecframeError) as exc:
                return Outcome(error="ProtocolError", message=f"unreadable output {out.name}: {exc}", seconds=seconds)


def _substitute(arg: str, values: dict[str, str]) -> str:
    """``arg`` with each placeholder replaced in one pass (a path containing ``{out}`` stays as it is)."""
    return re.sub("|".join(re.escape(k) for k in values), lambda m: values[m.group(0)], arg)


def _read_protocol_npz(path: Path, seconds: float) -> Outcome:
    outcome = Outcome(seconds=seconds)
    with np.load(io.BytesIO(read_bytes(path)), allow_pickle=False) as npz:
        for key in npz.files:
            section, _, name = key.partition(".")
            target = {"symbols": outcome.symbols, "values": outcome.values, "extras": outcome.extras}.get(section)
            if target is None or not name:
                raise ValueError(f"unexpected array {key!r} (expected symbols.*, values.*, extras.*)")
            target[name] = npz[key]
    return outcome


@dataclasses.dataclass
class Result:
    """The verdict on one vector."""

    name: str
    kind: str
    passed: bool
    expected: str
    got: str
    detail: str = ""
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _compare_values(group: dict[str, Any], got: np.ndarray, vector: Vector) -> str | None:
    """None if the reconstruction is acceptable, else why not."""
    shape, dtype = tuple(group["shape"]), group["dtype"]
    if got.shape != shape or got.dtype.name != dtype:
        return f"reconstruction is {got.dtype.name}{list(got.shape)}, expected {dtype}{list(shape)}"
    if values_sha256(got) == group["values_sha256"]:
        return None
    tol = group.get("tolerance", {"max_abs": 0.0, "rmse": 0.0})
    if not group.get("values_file"):
        return "reconstruction hash differs (no stored reconstruction to measure a tolerance against)"
    expected = np.load(io.BytesIO(vector.file(group["values_file"])), allow_pickle=False).astype(np.float64)
    diff = got.astype(np.float64) - expected
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    rmse = math.sqrt(float(np.mean(diff * diff))) if diff.size else 0.0
    if not (max_abs <= tol["max_abs"] and rmse <= tol["rmse"]):
        return f"reconstruction off by max-abs {max_abs:.3g}, RMSE {rmse:.3g} (tolerance {tol['max_abs']:.3g}, {tol['rmse']:.3g})"
    return None


def _check_positive(vector: Vector, out: Outcome) -> tuple[bool, str, str]:
    case = vector.case
    if out.error:
        return False, out.error, f"rejected a valid file: {out.message}"
    problems = []
    names = [g["name"] for g in case["groups"]]
    if sorted(out.symbols) != sorted(names) or sorted(out.values) != sorted(names):
        problems.append(f"groups {sorted(out.values)} / symbols {sorted(out.symbols)}, expected {sorted(names)}")
    for g in case["groups"]:
        name = g["name"]
        if name in out.symbols:
            sym = np.asarray(out.symbols[name])
            if sym.dtype != np.int32 or sym.shape != (g["count"],):
                problems.append(f"group {name!r}: symbols are {sym.dtype}{list(sym.shape)}, expected int32[{g['count']}]")
            elif symbols_sha256(sym) != g["symbols_sha256"]:
                problems.append(f"group {name!r}: decoded symbols differ")
        if name in out.values:
            why = _compare_values(g, np.asarray(out.values[name]), vector)
            if why:
                problems.append(f"group {name!r}: {why}")
    for e in case.get("extras", []):
        got = out.extras.get(e["name"])
        if got is None or values_sha256(got) != e["sha256"] or list(got.shape) != e["shape"]:
            problems.append(f"extra {e['name']!r} missing or different")
    if out.meta_sha256 is not None and out.meta_sha256 != case["meta_sha256"]:
        problems.append("meta differs")
    return (not problems), ("mismatch" if problems else "decoded"), "; ".join(problems)


def _check_negative(vector: Vector, out: Outcome, strict: bool) -> tuple[bool, str, str]:
    expected = vector.case["expected_error"]
    if not out.error:
        return False, "decoded", "accepted a file that must be rejected"
    if out.error in ("Timeout", "NotRunnable", "ProtocolError"):
        return False, out.error, out.message
    lineage = out.error_classes or error_lineage(out.error)
    if expected in lineage:
        return True, out.error, ""
    if strict:
        return False, out.error, f"expected {expected}: {out.message}"
    return True, out.error, f"rejected; error class not checked (expected {expected})"


def check_vector(vector: Vector, decoder: Callable[[Path], Outcome], strict_errors: bool = True) -> Result:
    """Decode one vector and judge the outcome against its ``case.json``."""
    expected = "decode" if vector.kind == "positive" else vector.case["expected_error"]
    out = decoder(vector.stream_path)
    if vector.kind == "positive":
        passed, got, detail = _check_positive(vector, out)
    else:
        passed, got, detail = _check_negative(vector, out, strict_errors)
    return Result(vector.name, vector.kind, passed, expected, got, detail, round(out.seconds, 4))


def run(
    corpus: Corpus,
    decoder: Callable[[Path], Outcome],
    names: Sequence[str] | None = None,
    strict_errors: bool | None = None,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Check ``decoder`` on every vector of ``corpus`` (or on ``names``); corrupted vectors fail.

    ``strict_errors`` (default: whether the decoder reports error classes) requires a rejected
    negative vector to name its expected error class or a subclass of it.
    """
    strict = getattr(decoder, "reports_error_class", True) if strict_errors is None else strict_errors
    problems = corpus.verify()
    results = []
    for name in names if names is not None else corpus.names():
        if name in problems:
            result = Result(name, "?", False, "intact vector", "corrupted", problems[name])
        else:
            try:
                result = check_vector(corpus.vector(name), decoder, strict)
            except CorpusError as exc:
                result = Result(name, "?", False, "intact vector", "corrupted", str(exc))
        results.append(result)
        if progress:
            progress(result)
    return results
