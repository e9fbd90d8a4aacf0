"""Content-addressed assets: learned tables, codebooks and decoders that plugins ship.

A plugin registers a function under the ``codecframe.assets`` entry-point group that returns the
paths of its asset files. Configs reference an asset as ``"sha256:<64 hex digits>"``;
:func:`load_asset` finds the file among registered assets, verifies its hash and returns its bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from . import _entrypoints
from .errors import AssetError, ConfigError

__all__ = ["GROUP", "asset_ref", "parse_ref", "load_asset", "find_asset", "register_asset", "known_assets", "only_from"]

GROUP = "codecframe.assets"
_REF = re.compile(r"sha256:([0-9a-f]{64})")
_index: dict[str, tuple[Path, str]] | None = None
_local: dict[str, tuple[Path, str]] = {}
_hash_cache: dict[tuple[str, int, int], str] = {}
_only: dict[str, tuple[Path, str]] | None = None
_STORE_FILE = re.compile(r"sha256-([0-9a-f]{64})\.bin")


def _sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _hash_cache:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _hash_cache[key] = h.hexdigest()
    return _hash_cache[key]


def asset_ref(source: str | os.PathLike[str] | bytes) -> str:
    """``sha256:<hex>`` of a file (path) or of raw bytes."""
    if isinstance(source, bytes):
        return "sha256:" + hashlib.sha256(source).hexdigest()
    return "sha256:" + _sha256_file(Path(source))


def parse_ref(ref: str) -> str:
    """The hex digest of an asset reference; ConfigError if malformed."""
    m = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if not m:
        raise ConfigError(f"asset reference must be 'sha256:' + 64 lowercase hex digits, got {ref!r}")
    return m.group(1)


def _build_index() -> dict[str, tuple[Path, str]]:
    index: dict[str, tuple[Path, str]] = {}
    for ep in _entrypoints.scan(GROUP):
        try:
            paths = list(ep.load()())
        except Exception:  # a broken plugin must not hide other plugins' assets
            continue
        for p in paths:
            p = Path(p)
            if p.is_file():
                index.setdefault(_sha256_file(p), (p, f"{ep.distribution} {ep.version}".strip()))
    return index


@contextlib.contextmanager
def only_from(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Within the block, assets come only from ``directory``, a store of ``sha256-<hex>.bin`` files (the
    conformance corpus's layout, ``specs/conformance.md``); installed and registered assets are ignored."""
    global _only
    root = Path(directory)
    found = [(m.group(1), p) for p in (root.iterdir() if root.is_dir() else ()) if (m := _STORE_FILE.fullmatch(p.name))]
    previous, _only = _only, {digest: (p, f"asset store {root}") for digest, p in found}
    try:
        yield
    finally:
        _only = previous


def known_assets() -> dict[str, tuple[Path, str]]:
    """``{hex digest: (path, providing distribution)}`` over all registered assets (or those of :func:`only_from`)."""
    global _index
    if _only is not None:
        return dict(_only)
    if _index is None:
        _index = _build_index()
    return {**_index, **_local}


def register_asset(path: str | os.PathLike[str], provider: str = "<in-process>") -> str:
    """Register an asset file in this process (tests, notebooks); returns its reference."""
    p = Path(path)
    digest = _sha256_file(p)
    _local[digest] = (p, provider)
    return "sha256:" + digest


def find_asset(ref: str) -> Path:
    """Path of the registered asset with reference ``ref``; AssetError if none is installed."""
    digest = parse_ref(ref)
    found = known_assets().get(digest)
    if found is None or not found[0].is_file():
        global _index
        _index = None  # a plugin may have been installed since the last scan
        if digest in _local and not _local[digest][0].is_file():
            del _local[digest]
        found = known_assets().get(digest)
    if (found is None or not found[0].is_file()) and _only is not None:
        raise AssetError(f"the asset store in use has no {ref}")
    if found is None or not found[0].is_file():
        raise AssetError(
            f"no installed asset has {ref}; the data was made with tables/weights that this installation "
            "lacks (install the plugin version that wrote it, or the file was made with other tables)"
        )
    return found[0]


def load_asset(ref: str) -> bytes:
    """Bytes of the asset ``ref``, verified against its hash."""
    path = find_asset(ref)
    data = path.read_bytes()
    if asset_ref(data) != ref:
        raise AssetError(f"asset file {path} no longer matches {ref} (modified after installation?)")
    return data
