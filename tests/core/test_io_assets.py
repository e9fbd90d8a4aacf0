import os

import pytest

from codecframe import assets
from codecframe.errors import AssetError, ConfigError, InputError, LimitError
from codecframe.io import atomic_directory, atomic_write, read_bytes


def test_atomic_write_replaces_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    atomic_write(target, b"one")
    assert target.read_bytes() == b"one"

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"two")
    assert target.read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_read_bytes_limits(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"12345")
    assert read_bytes(p) == b"12345"
    with pytest.raises(LimitError, match="exceeds"):
        read_bytes(p, max_bytes=4)
    with pytest.raises(InputError, match="no such file"):
        read_bytes(tmp_path / "nope")
    with pytest.raises(InputError, match="directory"):
        read_bytes(tmp_path)


def test_assets_by_hash(tmp_path):
    f = tmp_path / "table.bin"
    f.write_bytes(b"table v1")
    ref = assets.register_asset(f)
    assert ref == assets.asset_ref(b"table v1") == assets.asset_ref(f)
    assert assets.load_asset(ref) == b"table v1"
    other = assets.asset_ref(b"table v2")
    with pytest.raises(AssetError, match=other):
        assets.load_asset(other)
    f.write_bytes(b"tampered")
    os.utime(f, ns=(1, 1))
    with pytest.raises(AssetError, match="no longer matches"):
        assets.load_asset(ref)
    with pytest.raises(ConfigError, match="sha256"):
        assets.parse_ref("md5:abc")


def test_atomic_write_permissions(tmp_path):
    new = atomic_write(tmp_path / "new.bin", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask
    existing = tmp_path / "exe.sh"
    existing.write_bytes(b"old")
    existing.chmod(0o750)
    atomic_write(existing, b"new")
    assert existing.stat().st_mode & 0o777 == 0o750


def test_deleted_asset_is_an_asset_error(tmp_path):
    f = tmp_path / "gone.bin"
    f.write_bytes(b"soon gone")
    ref = assets.register_asset(f)
    f.unlink()
    with pytest.raises(AssetError, match="no installed asset"):
        assets.load_asset(ref)


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "store"
    with atomic_directory(target) as new:
        (new / "a").write_bytes(b"one")
    assert (target / "a").read_bytes() == b"one"
    with pytest.raises(InputError, match="already exists"):
        with atomic_directory(target):
            pass
    with pytest.raises(RuntimeError, match="failed"):
        with atomic_directory(target, overwrite=True) as new:
            (new / "a").write_bytes(b"half")
            raise RuntimeError("failed")
    assert (target / "a").read_bytes() == b"one"
    assert [p.name for p in tmp_path.iterdir()] == ["store"]  # no temporary directory left
    with atomic_directory(target, overwrite=True) as new:
        (new / "b").write_bytes(b"two")
    assert [p.name for p in target.iterdir()] == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["store"]
