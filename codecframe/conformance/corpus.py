"""The append-only corpus of conformance vectors (``docs/conformance.md``).

Layout of a corpus directory::

    manifest.json            {"format": 1, "vectors": [names in order of addition],
                              "files": {"<name>/<file>": "<sha256 hex>", ...},
                              "case_sets": [sets the corpus collects], "asset_dir": "<dir>",
                              "assets": {"sha256:<hex>": {"file", "bytes", "spec_sections",
                                                          "description", "vectors"}}}
    <name>/case.json         what the vector is and what a decoder must produce
    <name>/stream.cfr        the file to decode
    <name>/values.<i>.npy    expected reconstruction of group i (when small)
    <asset_dir>/sha256-<hex>.bin   every asset a vector's header references, by content hash

Vectors and assets are only ever added: :meth:`Corpus.add` refuses an existing name and verifies
every stored file against the manifest before appending.
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
    "asset_file_name",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
#: Vector names: lowercase letters, digits and dashes (they are directory names).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
#: Largest file one vector may hold.
MAX_VECTOR_FILE = 16 << 20
#: Largest asset the store holds.
MAX_ASSET_FILE = 256 << 20
#: Where a corpus keeps its assets when its manifest names no ``asset_dir`` (relative to the corpus).
DEFAULT_ASSET_DIR = "assets"
_ASSET_FILE = re.compile(r"sha256-([0-9a-f]{64})\.bin")


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


def asset_file_name(ref: str) -> str:
    """The store's file name of asset ``sha256:<hex>``: ``sha256-<hex>.bin``."""
    return f"sha256-{ref.removeprefix('sha256:')}.bin"


def _all_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _asset_entries(value: Any) -> bool:
    """Whether ``value`` is a well-formed manifest ``assets`` map (the file itself is checked by ``verify``)."""
    return isinstance(value, dict) and all(
        isinstance(entry, dict) and set(entry) == {"file", "bytes", "spec_sections", "description", "vectors"}
        and _all_strings(entry["vectors"]) and _all_strings(entry["spec_sections"]) for entry in value.values())


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
                or not isinstance(data.get("files"), dict) or not _all_strings(data.get("case_sets", [])) \
                or not isinstance(data.get("asset_dir", ""), str) or not _asset_entries(data.get("assets", {})):
            raise CorpusError(f"{path}: expected {{'format': {MANIFEST_FORMAT}, 'vectors': [...], 'files': {{...}}}} "
                              "(optional 'case_sets': [str], 'asset_dir': str, 'assets': {ref: {file, bytes, "
                              "spec_sections, description, vectors}})")
        return data

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        manifest["files"] = dict(sorted(manifest["files"].items()))
        if "assets" in manifest:
            manifest["assets"] = dict(sorted(manifest["assets"].items()))
        atomic_write(self.root / MANIFEST, (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode())

    def case_sets(self) -> list[str]:
        """The case sets (``core``, plugin entry-point names) whose vectors this corpus collects."""
        return list(self.manifest().get("case_sets", ["core"]))

    def record_case_sets(self, names: list[str]) -> None:
        """Add ``names`` to the manifest's case sets (they are never removed)."""
        manifest = self.manifest()
        sets = list(manifest.get("case_sets", []))
        new = [n for n in names if n not in sets]
        if new:
            manifest["case_sets"] = sets + new
            self._write_manifest(manifest)

    @property
    def asset_dir(self) -> Path:
        """The asset store: ``sha256-<hex>.bin`` files (``asset_dir`` in the manifest, relative to the corpus)."""
        return (self.root / self.manifest().get("asset_dir", DEFAULT_ASSET_DIR)).resolve()

    def assets(self) -> dict[str, dict[str, Any]]:
        """The manifest's asset entries by reference ``sha256:<hex>``."""
        return dict(self.manifest().get("assets", {}))

    def add_asset(self, ref: str, data: bytes, spec_sections: list[str], description: str, vector: str) -> None:
        """Store asset ``ref`` (verified against its hash) used by ``vector``; if stored, record the use only."""
        manifest = self.manifest()
        assets = manifest.setdefault("assets", {})
        if ref not in assets:
            if sha256(data) != ref.removeprefix("sha256:"):
                raise CorpusError(f"asset {ref}: the bytes do not have this hash")
            if any(k.startswith("assets/") for k in self.verify()):
                raise CorpusError("the asset store is not intact; refusing to add assets")
            directory = self.asset_dir
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write(directory / asset_file_name(ref), data)
            assets[ref] = {"file": asset_file_name(ref), "bytes": len(data), "spec_sections": list(spec_sections),
                           "description": description, "vectors": []}
        if vector not in assets[ref]["vectors"]:
            assets[ref]["vectors"] = [*assets[ref]["vectors"], vector]
            self._write_manifest(manifest)

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
        problems.update(self._verify_assets(manifest))
        return problems

    def _verify_assets(self, manifest: dict[str, Any]) -> dict[str, str]:
        """Problems of the asset store, under ``assets/<file>`` and under every vector that uses the asset."""
        problems: dict[str, str] = {}
        directory = self.root / manifest.get("asset_dir", DEFAULT_ASSET_DIR)
        listed = set()
        for ref, entry in manifest.get("assets", {}).items():
            fname = asset_file_name(ref)
            listed.add(fname)
            path = directory / fname
            if entry["file"] != fname:
                why = f"the manifest entry of {ref} names the file {entry['file']!r}, not {fname!r}"
            elif not path.is_file():
                why = f"asset {fname} is missing"
            elif sha256(read_bytes(path, MAX_ASSET_FILE)) != ref.removeprefix("sha256:"):
                why = f"asset {fname} does not match its hash"
            else:
                continue
            problems[f"assets/{fname}"] = why
            for name in entry["vectors"]:
                problems.setdefault(name, why)
        if directory.is_dir():
            for p in directory.iterdir():
                if p.name not in listed and _ASSET_FILE.fullmatch(p.name):
                    problems[f"assets/{p.name}"] = f"asset {p.name} is not in the manifest"
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
        if name == DEFAULT_ASSET_DIR:
            raise CorpusError(f"vector name {name!r} is reserved for the asset store")
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
        self._write_manifest(manifest)
        return self.vector(name)
