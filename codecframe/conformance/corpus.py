"""The append-only corpus of conformance vectors (``docs/conformance.md``).

Layout of a corpus directory::

    manifest.json            {"format": 1, "vectors": [names in order of addition],
                              "files": {"<name>/<file>": "<sha256 hex>", ...}}
    <name>/case.json         what the vector is and what a decoder must produce
    <name>/stream.cfr        the file to decode
    <name>/values.<i>.npy    expected reconstruction of group i (when small)

Vectors are only ever added: :meth:`Corpus.add` refuses an existing name and verifies every
stored file against the manifest before appending.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CodecframeError, InputError
from ..io import atomic_write, read_bytes

__all__ = [
    "Corpus",
    "Vector",
    "CorpusError",
    "sha256",
    "symbols_sha256",
    "values_sha256",
    "default_corpus",
    "MANIFEST",
    "NAME_PATTERN",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
#: Vector names: lowercase letters, digits and dashes (they are directory names).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
#: Largest file one vector may hold.
MAX_VECTOR_FILE = 16 << 20


class CorpusError(CodecframeError):
    """The corpus is malformed, modified after the fact, or an addition would overwrite a vector."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def symbols_sha256(symbols: np.ndarray) -> str:
    """sha256 of the symbols as int32 little-endian bytes, in coding order."""
    return sha256(np.ascontiguousarray(symbols, dtype="<i4").tobytes())


def values_sha256(values: np.ndarray) -> str:
    """sha256 of a reconstruction's bytes: C order, little-endian, its own dtype."""
    arr = np.asarray(values)
    return sha256(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())


def default_corpus() -> Path:
    """``specs/vectors`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "specs" / "vectors"


@dataclasses.dataclass(frozen=True)
class Vector:
    """One stored vector: its name, directory and parsed ``case.json``."""

    name: str
    path: Path
    case: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.case["kind"])

    def file(self, name: str) -> bytes:
        return read_bytes(self.path / name, MAX_VECTOR_FILE)

    @property
    def stream_path(self) -> Path:
        return self.path / self.case["file"]


class Corpus:
    """A corpus directory with its manifest."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.exists():
            return {"format": MANIFEST_FORMAT, "vectors": [], "files": {}}
        try:
            data = json.loads(read_bytes(path, MAX_VECTOR_FILE))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("vectors"), list) \
                or not isinstance(data.get("files"), dict):
            raise CorpusError(f"{path}: expected {{'format': {MANIFEST_FORMAT}, 'vectors': [...], 'files': {{...}}}}")
        return data

    def names(self) -> list[str]:
        return list(self.manifest()["vectors"])

    def verify(self) -> dict[str, str]:
        """Problems per vector name: files missing, modified, or not in the manifest (empty if intact)."""
        manifest = self.manifest()
        problems: dict[str, str] = {}
        listed: dict[str, dict[str, str]] = {}
        for rel, digest in manifest["files"].items():
            listed.setdefault(rel.split("/", 1)[0], {})[rel] = digest
        for name in manifest["vectors"]:
            files = listed.get(name)
            if not files or f"{name}/case.json" not in files:
                problems[name] = "the manifest lists no case.json for this vector"
                continue
            for rel, digest in sorted(files.items()):
                path = self.root / rel
                if not path.is_file():
                    problems[name] = f"{rel} is missing"
                    break
                if sha256(read_bytes(path, MAX_VECTOR_FILE)) != digest:
                    problems[name] = f"{rel} does not match its sha256 in the manifest (vectors are append-only)"
                    break
            else:
                extra = {f"{name}/{p.name}" for p in (self.root / name).iterdir() if p.is_file()} - set(files)
                if extra:
                    problems[name] = f"files not in the manifest: {', '.join(sorted(extra))}"
        return problems

    def vector(self, name: str) -> Vector:
        path = self.root / name
        try:
            case = json.loads(read_bytes(path / "case.json", MAX_VECTOR_FILE))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{name}/case.json: not valid JSON ({exc})") from None
        except InputError as exc:
            raise CorpusError(f"vector {name!r}: {exc}") from None
        if not isinstance(case, dict) or case.get("name") != name or case.get("kind") not in ("positive", "negative"):
            raise CorpusError(f"{name}/case.json: needs 'name' equal to the directory and 'kind' positive|negative")
        return Vector(name, path, case)

    def vectors(self) -> list[Vector]:
        return [self.vector(n) for n in self.names()]

    def add(self, name: str, files: Mapping[str, bytes]) -> Vector:
        """Store a new vector (``files`` by file name, ``case.json`` included) and append it to the manifest.

        Refuses an existing name or directory, and a corpus whose stored files no longer match the manifest.
        """
        if not NAME_PATTERN.fullmatch(name):
            raise CorpusError(f"vector name {name!r} must match {NAME_PATTERN.pattern}")
        if "case.json" not in files or any("/" in f or f.startswith(".") for f in files):
            raise CorpusError(f"vector {name!r}: needs case.json and plain file names")
        manifest = self.manifest()
        if name in manifest["vectors"] or (self.root / name).exists():
            raise CorpusError(f"vector {name!r} already exists; vectors are never regenerated or overwritten")
        problems = self.verify()
        if problems:
            first = next(iter(problems.items()))
            raise CorpusError(f"the corpus is not intact ({first[0]}: {first[1]}); refusing to add vectors")
        directory = self.root / name
        directory.mkdir(parents=True)
        for fname, data in sorted(files.items()):
            atomic_write(directory / fname, data)
            manifest["files"][f"{name}/{fname}"] = sha256(data)
        manifest["vectors"].append(name)
        manifest["files"] = dict(sorted(manifest["files"].items()))
        atomic_write(self.root / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
        return self.vector(name)
