"""Output paths of atomic writes behave like cp's destination; errors name the caller's path; what a
killed writer leaves behind is cleaned by the next write to the same path (issue 19, A1-A3)."""

import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from codecframe.errors import InputError
from codecframe.io import atomic_directory, atomic_open, atomic_write, clean_stale, is_device_output

pytestmark = pytest.mark.nojit


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def stale_name(path: Path, pid: int, suffix: str = "part") -> Path:
    from codecframe import io

    return path.parent / f"{io._prefix(path)}{io._HOST}-{pid}-0123abcd.{suffix}"


@pytest.fixture
def null_device(tmp_path) -> Path:
    """A null device to write to. As root, a private node (device 1, 3) in tmp_path: a broken writer
    would replace the system's /dev/null; other users cannot replace /dev/null, so it is used."""
    if os.getuid() != 0:
        return Path("/dev/null")
    node = tmp_path / "devices" / "null"
    node.parent.mkdir()
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("running as root without CAP_MKNOD")
    return node


def test_a_device_is_written_directly(null_device):
    atomic_write(null_device, b"discarded")
    assert stat.S_ISCHR(os.lstat(null_device).st_mode)
    assert is_device_output(null_device)
    assert listing(null_device.parent) == ["null"] or null_device == Path("/dev/null")


def test_symlink_to_a_device_is_written_through(tmp_path, null_device):
    (tmp_path / "sink").symlink_to(null_device)
    atomic_write(tmp_path / "sink", b"x" * 1000)
    assert (tmp_path / "sink").is_symlink() and stat.S_ISCHR(os.lstat(null_device).st_mode)
    assert "sink" in listing(tmp_path) and not [n for n in listing(tmp_path) if n.endswith(".part")]


def test_fifo_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    atomic_write(fifo, b"through the pipe")
    reader.join(10)
    if reader.is_alive() and stat.S_ISFIFO(os.lstat(fifo).st_mode):  # unblock the reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and listing(tmp_path) == ["pipe"]


def test_symlink_target_is_replaced_and_the_link_kept(tmp_path):
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "out.cfr"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "out.cfr"
    link.symlink_to("data/out.cfr")
    chain = tmp_path / "alias"
    chain.symlink_to("out.cfr")
    atomic_write(chain, b"new")
    assert link.is_symlink() and chain.is_symlink() and os.readlink(link) == "data/out.cfr"
    assert real.read_bytes() == b"new" and stat.S_IMODE(real.stat().st_mode) == 0o640
    assert listing(tmp_path / "data") == ["out.cfr"] and listing(tmp_path) == ["alias", "data", "out.cfr"]


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "out.cfr"
    link.symlink_to("made.cfr")
    atomic_write(link, b"created")
    assert link.is_symlink() and (tmp_path / "made.cfr").read_bytes() == b"created"


def test_symlink_loop_and_directory_and_socket_are_refused(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(InputError, match="a: symbolic link loop"):
        atomic_write(tmp_path / "a", b"x")
    (tmp_path / "dir").mkdir()
    with pytest.raises(InputError, match="dir: is a directory"):
        atomic_write(tmp_path / "dir", b"x")
    (tmp_path / "to-dir").symlink_to("dir")
    with pytest.raises(InputError, match="to-dir: is a directory"):
        atomic_write(tmp_path / "to-dir", b"x")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        with pytest.raises(InputError, match="sock: is a socket"):
            atomic_write(tmp_path / "sock", b"x")
    assert listing(tmp_path) == ["a", "b", "dir", "sock", "to-dir"] and listing(tmp_path / "dir") == []


def test_hard_link_is_kept_and_survives_a_failed_write(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(b"old contents")
    os.link(first, second)
    inode = first.stat().st_ino
    with pytest.raises(RuntimeError):
        with atomic_open(first) as fh:
            fh.write(b"half")
            raise RuntimeError("encoder failed")
    assert second.read_bytes() == b"old contents"
    atomic_write(first, b"new")
    assert first.stat().st_ino == inode and first.stat().st_nlink == 2 and second.read_bytes() == b"new"
    assert listing(tmp_path) == ["first", "second"]


def test_missing_directory_error_names_the_given_path(tmp_path):
    target = tmp_path / "no-such-dir" / "out.cfr"
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(target, b"x")
    assert info.value.filename == str(target) and ".part" not in str(info.value)


UNWRITABLE = textwrap.dedent("""
    import sys
    from codecframe.io import atomic_write
    try:
        atomic_write(sys.argv[1], b"x")
    except PermissionError as exc:
        print(exc)
""")


def test_unwritable_directory_error_names_the_given_path(tmp_path):
    """Root ignores permissions: then the write runs without the capabilities that override them."""
    import shutil

    prefix = []
    if os.getuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "out.cfr"
    locked.chmod(0o555)
    try:
        out = subprocess.run([*prefix, sys.executable, "-c", UNWRITABLE, str(target)], capture_output=True, text=True,
                             timeout=60)
    finally:
        locked.chmod(0o755)
    assert out.returncode == 0, out.stderr
    assert f"Permission denied (an atomic write creates its temporary file in {locked}): '{target}'" in out.stdout
    assert ".part" not in out.stdout and listing(locked) == []


@settings(max_examples=40, deadline=None)
@given(old=st.binary(max_size=64), new=st.binary(max_size=64), fail=st.booleans(),
       kind=st.sampled_from(["plain", "symlink", "hardlink", "new"]))
def test_a_write_leaves_the_old_or_the_new_content_and_nothing_else(tmp_path_factory, old, new, fail, kind):
    d = tmp_path_factory.mktemp("prop")
    real = d / "real"
    if kind != "new":
        real.write_bytes(old)
    path = real
    if kind == "symlink":
        path = d / "link"
        path.symlink_to("real")
    elif kind == "hardlink":
        path = d / "link"
        os.link(real, path)
    before = listing(d)
    try:
        with atomic_open(path) as fh:
            fh.write(new[: len(new) // 2])
            if fail:
                raise RuntimeError("fail")
            fh.write(new[len(new) // 2 :])
    except RuntimeError:
        pass
    expected = old if fail else new
    if kind == "new" and fail:
        assert not real.exists()
    else:
        assert real.read_bytes() == expected and path.read_bytes() == expected
    assert listing(d) == (before if kind != "new" else ([] if fail else ["real"]))


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    out = tmp_path / "out.cfr"
    pid = dead_pid()
    stale, mine = stale_name(out, pid), stale_name(out, os.getpid())
    other = stale_name(tmp_path / "other.cfr", pid)
    for p in (stale, mine, other):
        p.write_bytes(b"debris")
    atomic_write(out, b"x")
    assert listing(tmp_path) == sorted([mine.name, other.name, "out.cfr"])  # only the dead writer's, of this path


def test_interrupted_directory_swap_is_completed_or_restored(tmp_path):
    store = tmp_path / "b.zarr"
    # killed between the two renames: the new store was complete, so the swap is finished
    pid = dead_pid()
    old, part = stale_name(store, pid, "old"), stale_name(store, pid, "part")
    (old / "b.zarr").mkdir(parents=True)
    (old / "b.zarr" / "v").write_text("previous")
    part.mkdir()
    (part / "v").write_text("new")
    actions = clean_stale(store)
    assert (store / "v").read_text() == "new" and listing(tmp_path) == ["b.zarr"], actions
    # killed with the old store moved aside and no finished new one: the old one comes back
    old = stale_name(store, dead_pid(), "old")
    os.mkdir(old)
    os.replace(store, old / "b.zarr")
    with atomic_directory(store, overwrite=True) as new:
        assert (store / "v").read_text() == "new"  # restored before the new one is built
        (new / "v").write_text("newer")
    assert (store / "v").read_text() == "newer" and listing(tmp_path) == ["b.zarr"]


def test_interruption_between_the_renames_keeps_the_old_directory(tmp_path, monkeypatch):
    store = tmp_path / "s"
    store.mkdir()
    (store / "v").write_text("old")
    real = os.replace
    calls = []

    def replace(src, dst):
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as if Ctrl-C arrived right after the old store was moved aside

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        with atomic_directory(store, overwrite=True) as new:
            (new / "v").write_text("new")
    monkeypatch.setattr(os, "replace", real)
    assert (store / "v").read_text() == "old" and listing(tmp_path) == ["s"]


# ---------------------------------------------------------------- killed CLI runs
PAUSED_CLI = textwrap.dedent("""
    import os, sys, time
    real = os.fsync
    def slow_fsync(fd):
        print("writing", flush=True)
        time.sleep(60)
    os.fsync = slow_fsync
    from codecframe.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _default_signal_dispositions() -> None:
    """In the child before exec: SIGINT, SIGTERM and SIGHUP at their defaults. A test run under nohup or
    as a background job hands them down ignored, and the CLI rightly keeps an inherited ignore."""
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def paused_encode(tmp_path: Path, out: Path) -> subprocess.Popen:
    import numpy as np

    np.savez(tmp_path / "in.npz", **{"w.mean": np.linspace(-1, 1, 5000), "w.std": np.full(5000, 0.1)})
    argv = ["encode", str(tmp_path / "in.npz"), "-c", '{"quantizer": {"id": "uniform", "step": 0.01}}', "-o", str(out)]
    proc = subprocess.Popen([sys.executable, "-c", PAUSED_CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
                            preexec_fn=_default_signal_dispositions)
    assert proc.stdout.readline() == "writing\n", proc.stderr.read()
    return proc


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_terminated_encode_removes_its_temporary(tmp_path, signum):
    out = tmp_path / "out.cfr"
    out.write_bytes(b"previous")
    proc = paused_encode(tmp_path, out)
    proc.send_signal(getattr(__import__("signal"), signum))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert out.read_bytes() == b"previous" and listing(tmp_path) == ["in.npz", "out.cfr"]


def test_killed_encode_debris_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out.cfr"
    proc = paused_encode(tmp_path, out)
    proc.kill()
    proc.wait(60)
    debris = [n for n in listing(tmp_path) if n.endswith(".part")]
    assert len(debris) == 1 and debris[0].startswith(".out.cfr.codecframe-") and f"-{proc.pid}-" in debris[0]
    from codecframe.cli.main import main

    config = '{"quantizer": {"id": "uniform", "step": 0.01}}'
    assert main(["encode", str(tmp_path / "in.npz"), "-c", config, "-o", str(out)]) == 0
    assert listing(tmp_path) == ["in.npz", "out.cfr"]


def test_plugin_image_compress_writes_through_a_symlink_and_refuses_a_directory(tmp_path, capsys):
    pytest.importorskip("codecframe_vbq")
    import numpy as np
    from PIL import Image

    from codecframe.cli.main import main

    Image.fromarray((np.random.default_rng(0).random((16, 24, 3)) * 255).astype(np.uint8)).save(tmp_path / "s.png")
    (tmp_path / "d").mkdir()
    (tmp_path / "out.cfr").symlink_to("d/real.cfr")
    assert main(["image", "compress", str(tmp_path / "s.png"), "-o", str(tmp_path / "out.cfr")]) == 0
    assert (tmp_path / "out.cfr").is_symlink() and (tmp_path / "d" / "real.cfr").stat().st_size > 0
    capsys.readouterr()
    assert main(["image", "compress", str(tmp_path / "s.png"), "-o", str(tmp_path / "d")]) == 1
    assert "d: is a directory" in capsys.readouterr().err
    assert listing(tmp_path) == ["d", "out.cfr", "s.png"] and listing(tmp_path / "d") == ["real.cfr"]


def test_long_names_sharing_a_prefix_keep_each_others_old_stores(tmp_path):
    first, second = tmp_path / ("x" * 120 + "1"), tmp_path / ("x" * 120 + "2")
    old = stale_name(first, dead_pid(), "old")
    (old / first.name).mkdir(parents=True)
    with atomic_directory(second) as new:
        (new / "v").write_text("second")
    assert (old / first.name).is_dir()  # not the second path's to remove
    clean_stale(first)
    assert first.is_dir() and not old.exists()


def test_a_link_to_stdout_writes_into_the_pipe(tmp_path):
    """Like /dev/stdout (a private link: a broken writer run as root would replace /dev/stdout)."""
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    script = f"from codecframe.io import atomic_write; atomic_write({str(tmp_path / 'stdout')!r}, b'to the pipe')"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stdout == b"to the pipe", out.stderr
    assert listing(tmp_path) == ["stdout"] and (tmp_path / "stdout").is_symlink()


def test_atomic_directory_errors_name_the_given_path(tmp_path):
    target = tmp_path / "missing" / "a.zarr"
    with pytest.raises(FileNotFoundError) as info:
        with atomic_directory(target):
            pass
    assert info.value.filename == str(target) and ".part" not in str(info.value)
