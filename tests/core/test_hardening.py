"""Regression tests for the hostile-input findings of issue 19 (B, C1-C4, C7, E and the smaller defects)."""

from __future__ import annotations

import copy
import math
import os
import pickle
import sys
import warnings

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecframe import canonical, container
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.builtins.uniform import UniformQuantizer, saturating_cast
from codecframe.cli import main as cli_main
from codecframe.cli.main import main
from codecframe.cli.progress import StderrProgress
from codecframe.errors import (
    CodecframeError, ConfigError, FormatError, InputError, InputFileError, LimitError, OutOfMemoryError, PluginError,
)
from codecframe.guard import guarded
from codecframe.pipeline import MAX_ELEMENTS, Pipeline, decode
from codecframe.registry import registry

pytestmark = pytest.mark.nojit


def _file(dtype: str = "float32", coder: str = "range", n: int = 12) -> bytes:
    mean = np.linspace(-1, 1, n).astype(dtype)
    post = GaussianPosterior(mean=mean, std=np.ones(n, dtype))
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.25}, "entropy_coder": coder})
    return pipe.encode({"w": post}, extras={"e": np.arange(3, dtype=np.int16)})


def _rewrite(data: bytes, edit) -> bytes:
    """The file with its header changed by ``edit(header)`` (canonical, checksums valid)."""
    box = container.read(data)
    header = copy.deepcopy({k: v for k, v in box.header.items() if k != "streams"})
    streams = list(box.streams)
    out = edit(header, streams)
    return container.write(header, out if out is not None else streams)


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- C1: info applies decode's schema check
BROKEN_HEADERS = {
    "pipeline is a list": lambda h, s: h.update(pipeline=[1, 2]),
    "provenance entry is a string": lambda h, s: h["provenance"].update(quantizer="codecframe"),
    "provenance entry is an array": lambda h, s: h["provenance"].update(quantizer=[1, 2]),
    "provenance is a list": lambda h, s: h.update(provenance=["x"]),
    "groups is a dict": lambda h, s: h.update(groups={"a": 1}),
    "group is a string": lambda h, s: h.update(groups=["w"]),
    "extras is a map": lambda h, s: h.update(extras={"a": 1}),
    "fewer streams": lambda h, s: s[:1],
    "no streams": lambda h, s: [],
}


@pytest.mark.parametrize("case", sorted(BROKEN_HEADERS))
def test_info_rejects_what_decode_rejects(case, tmp_path, capsys):
    data = _rewrite(_file(), BROKEN_HEADERS[case])
    path = tmp_path / "x.cfr"
    path.write_bytes(data)
    decode_error = None
    try:
        decode(data)
    except CodecframeError as exc:
        decode_error = exc
    for argv in (["info", str(path)], ["info", "--json", str(path)], ["info", "--verbose", str(path)]):
        code, out, err = _cli(capsys, *argv)
        if decode_error is None:  # only a malformed provenance entry: ignored by decode, and by info
            assert code == 0 and case.startswith("provenance entry"), (case, err)
        else:
            assert code == 1 and err.startswith("codecframe: error:") and "Traceback" not in err, (case, err)


def test_info_summarises_per_group_and_verbose_lists_rows(tmp_path, capsys):
    rng = np.random.default_rng(0)
    mean = rng.standard_normal((64, 500))
    post = GaussianPosterior(mean=mean, std=np.ones_like(mean))
    data = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.001}}).encode({"big": post})
    path = tmp_path / "x.cfr"
    path.write_bytes(data)
    side_len = len(container.read(data).header["groups"][0]["side"]["counts"])
    assert side_len > 1000
    code, short, _ = _cli(capsys, "info", str(path))
    assert code == 0 and len(short) < 2000 and f"[{side_len} values" not in short
    assert "group 'big': shape [64, 500] float64" in short and "bits/value" in short and "side info" in short
    code, long, _ = _cli(capsys, "info", "--verbose", str(path))
    assert code == 0 and len(long) > 3 * side_len and "crc32" in long
    code, js, _ = _cli(capsys, "info", "--json", str(path))
    import json

    info = json.loads(js)
    assert len(info["header"]["groups"][0]["side"]["counts"]) == side_len  # --json stays complete
    assert info["groups"][0]["elements"] == 64 * 500 and info["groups"][0]["stream_bytes"] == len(container.read(data).streams[0])


# ---------------------------------------------------------------- C2: uniform side counts out of range
@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 2**64 - 1), st.just(2**64 - 1), st.just(2**37)), min_size=1, max_size=6))
def test_uniform_huge_side_counts_are_format_errors(counts):
    data = _file()

    def edit(h, s):
        h["groups"][0]["side"]["counts"] = counts

    bad = _rewrite(data, edit)
    try:
        decode(bad)
    except CodecframeError as exc:
        assert not isinstance(exc, PluginError), exc  # the quantizer itself refuses them
    if any(c > (1 << 37) - 1 for c in counts):
        with pytest.raises(InputError, match="counts"):
            UniformQuantizer().symbol_model(_probe(counts), 16)


def _probe(counts):
    from codecframe.types import Quantized

    return Quantized(np.zeros(0, np.int32), {"step": 1.0}, {"lo": 0, "counts": counts}, (len(counts),), "float64")


# ---------------------------------------------------------------- C3: msgpack ext -1 (timestamp)
@pytest.mark.parametrize("value", [msgpack.Timestamp(1, 0), msgpack.ExtType(5, b"ab"), msgpack.ExtType(1, b"\0" * 4)])
def test_writer_refuses_foreign_ext_types(value):
    with pytest.raises(FormatError, match="ext type"):
        canonical.pack({"a": value})
    with pytest.raises(FormatError):
        container.write({"meta": {"t": value}}, [])


@given(st.binary(min_size=4, max_size=4) | st.binary(min_size=8, max_size=8) | st.binary(min_size=12, max_size=12))
@settings(max_examples=50, deadline=None)
def test_reader_refuses_timestamp_ext(payload):
    ext = {4: b"\xd6", 8: b"\xd7"}.get(len(payload), b"\xc7\x0c") + b"\xff" + payload
    raw = b"\x81\xa1t" + ext  # {"t": <ext -1>}
    with pytest.raises(FormatError):
        canonical.unpack(raw)


def test_header_with_timestamp_is_a_format_error():
    data = _file()
    box = container.read(data)
    header = canonical.pack({k: v for k, v in box.header.items()} | {"meta": {"t": 1}})
    forged = header.replace(b"\xa1t\x01", b"\xa1t\xd6\xff\x00\x00\x00\x01")  # meta.t = Timestamp(1)
    from codecframe.conformance import surgery

    bad = surgery.replace_header(data, forged)
    with pytest.raises(FormatError, match="ext type -1"):
        decode(bad)


# ---------------------------------------------------------------- C4: plugin exceptions wrapped
class _Buggy(UniformQuantizer):
    id = "buggy-uniform"
    bug: type[BaseException] = ZeroDivisionError

    def symbol_model(self, q, precision):
        if self.bug is InputError:
            raise InputError("too many levels for this precision")
        raise self.bug("boom")


@pytest.mark.parametrize("bug", [ZeroDivisionError, KeyError, ValueError, RecursionError])
def test_plugin_exception_becomes_plugin_error(bug, monkeypatch):
    monkeypatch.setattr(_Buggy, "bug", bug)
    with registry.registered(_Buggy):
        pipe = Pipeline.from_config({"quantizer": "buggy-uniform"})
        post = GaussianPosterior(mean=np.zeros(4), std=np.ones(4))
        with pytest.raises(PluginError) as err:
            pipe.encode({"layer.0": post})
    exc = err.value
    assert isinstance(exc.__cause__, bug)
    assert "buggy-uniform" in str(exc) and "'layer.0'" in str(exc) and "distribution" in str(exc)
    assert exc.group == "layer.0" and exc.distribution and "buggy-uniform" in exc.component
    copy_ = pickle.loads(pickle.dumps(exc))
    assert (copy_.group, copy_.component, str(copy_)) == (exc.group, exc.component, str(exc))


@pytest.mark.parametrize("own", [InputError("skip"), LimitError("too big"), FormatError("bad"), ConfigError("cfg")])
def test_codecframe_errors_pass_through_the_guard_unchanged(own):
    with pytest.raises(type(own)) as err:
        with guarded("quantizer 'x'", group="g"):
            raise own
    assert err.value is own


def test_lagrangian_still_skips_candidates_that_raise_input_error(monkeypatch):
    calls = []

    class Picky(UniformQuantizer):
        id = "picky-uniform"

        def estimate(self, posterior, setting, precision):
            calls.append(setting["step"])
            if setting["step"] < 0.5:
                raise InputError("alphabet too large for the precision")  # the documented skip signal
            return super().estimate(posterior, setting, precision)

    with registry.registered(Picky):
        pipe = Pipeline.from_config({"quantizer": {"id": "picky-uniform", "candidates": [0.25, 0.5, 1.0]},
                                     "allocator": {"id": "lagrangian", "lam": 0.01}})
        data = pipe.encode({"g": GaussianPosterior(mean=np.linspace(-2, 2, 50), std=np.ones(50))})
        assert decode(data).arrays["g"].shape == (50,)
    assert 0.25 in calls


def test_decode_wraps_a_buggy_decoder_component():
    data = _file()

    class Bad(UniformQuantizer):
        id = "uniform"

        def dequantize(self, q):
            return {}["missing"]

    from codecframe.registry import Registry

    reg = Registry()
    reg.register(Bad, replace=True)
    with pytest.raises(PluginError, match=r"dequantize on group 'w'.*KeyError") as err:
        decode(data, registry=reg)
    assert isinstance(err.value.__cause__, KeyError)


def test_cli_prints_one_line_and_the_traceback_only_with_debug(tmp_path, capsys, monkeypatch):
    path = tmp_path / "x.cfr"
    path.write_bytes(_file())

    def explode(self, q):
        raise ZeroDivisionError("division by zero in a plugin")

    monkeypatch.setattr(UniformQuantizer, "dequantize", explode)
    code, _, err = _cli(capsys, "decode", str(path), "-o", str(tmp_path / "o.npz"))
    assert code == 1 and err.count("\n") == 1 and "ZeroDivisionError" in err and "Traceback" not in err
    assert "'w'" in err and "codecframe" in err
    code, _, err = _cli(capsys, "--debug", "decode", str(path), "-o", str(tmp_path / "o.npz"))
    assert code == 1 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("codecframe: error:")


# ---------------------------------------------------------------- B / C7: MemoryError
def test_memory_error_in_a_command_is_a_limit_error_with_exit_2(tmp_path, capsys, monkeypatch):
    path = tmp_path / "x.cfr"
    path.write_bytes(_file())

    def oom(self, q):
        raise MemoryError()

    monkeypatch.setattr(UniformQuantizer, "dequantize", oom)
    with pytest.raises(OutOfMemoryError) as err:
        decode(path.read_bytes())
    assert isinstance(err.value, LimitError) and isinstance(err.value.__cause__, MemoryError)
    code, _, err_text = _cli(capsys, "decode", str(path), "-o", str(tmp_path / "o.npz"))
    assert code == 2 and "out of memory" in err_text and "Traceback" not in err_text
    monkeypatch.setattr(cli_main.core_commands, "read_bytes", lambda p: (_ for _ in ()).throw(MemoryError()))
    code, _, err_text = _cli(capsys, "info", str(path))
    assert code == 2 and err_text.startswith("codecframe: error: out of memory") and err_text.count("\n") == 1


# ---------------------------------------------------------------- B6: max_elements
@pytest.mark.parametrize("value", [MAX_ELEMENTS + 1, 300_000_000, 2**64, -1, "10", 10.0, True, None])
def test_max_elements_outside_the_spec_is_a_config_error(value):
    data = _file()
    with pytest.raises(ConfigError, match="max_elements"):
        decode(data, max_elements=value)
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.25}})
    with pytest.raises(ConfigError, match="max_elements"):
        pipe.decode(data, max_elements=value)


def test_max_elements_lowers_the_limit(tmp_path, capsys):
    data = _file(n=12)
    assert decode(data, max_elements=12).arrays["w"].shape == (12,)
    assert decode(data, max_elements=np.int64(12)).arrays["w"].shape == (12,)
    with pytest.raises(LimitError):
        decode(data, max_elements=11)
    path = tmp_path / "x.cfr"
    path.write_bytes(data)
    code, _, err = _cli(capsys, "decode", str(path), "-o", str(tmp_path / "o.npz"), "--max-elements", "300000000")
    assert code == 1 and "max_elements must be in [0, 268435456]" in err


# ---------------------------------------------------------------- E: the cast to the group's dtype
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint64", "int64", "float16", "float32", "bool"])
@pytest.mark.parametrize("step", [1e300, 1.7e308, 3.0])
def test_huge_steps_saturate_without_warnings(dtype, step):
    data = _file(dtype="float64")

    def edit(h, s):
        h["groups"][0]["dtype"] = dtype
        h["groups"][0]["setting"]["step"] = step

    bad = _rewrite(data, edit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = decode(bad).arrays["w"]
    symbols = np.rint(np.linspace(-1, 1, 12) / 0.25)
    assert out.dtype == np.dtype(dtype)
    with np.errstate(over="ignore"):
        assert np.array_equal(out, saturating_cast(symbols * step, dtype))
    if dtype != "bool":
        info = np.finfo(dtype) if out.dtype.kind == "f" else np.iinfo(dtype)
        assert np.all(np.isfinite(out.astype(np.float64)))
        if step >= 1e300:
            assert out.max() == info.max and out.min() == (info.min if dtype[0] != "u" else 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=True, width=64), min_size=1, max_size=20),
       st.sampled_from(["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
                        "float16", "float32", "float64", "bool"]))
def test_saturating_cast_rounds_to_nearest_and_clamps(values, dtype):
    x = np.array(values, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = saturating_cast(x, dtype)
    assert out.dtype == np.dtype(dtype) and out.shape == x.shape
    if dtype == "bool":
        assert np.array_equal(out, np.rint(x) >= 1)
        return
    if out.dtype.kind == "f":
        big = float(np.finfo(dtype).max)
        inside = np.abs(x) <= big
        assert np.array_equal(out[inside], x[inside].astype(dtype))  # IEEE round to nearest even
        assert np.all(np.abs(out[~inside].astype(np.float64)) == big)
        return
    info = np.iinfo(dtype)
    for v, o in zip(x, out):
        r = np.rint(v)
        expected = info.max if r >= info.max else info.min if r <= info.min else int(r)
        assert int(o) == expected


# ---------------------------------------------------------------- smaller defects
def test_missing_or_directory_input_exits_3(tmp_path, capsys):
    for argv in (["info", str(tmp_path / "missing.cfr")], ["decode", str(tmp_path), "-o", str(tmp_path / "o.npz")]):
        code, _, err = _cli(capsys, *argv)
        assert code == 3 and err.startswith("codecframe: error:") and err.count("\n") == 1
    from codecframe.io import read_bytes

    with pytest.raises(InputError):  # still an InputError for API callers
        read_bytes(tmp_path / "missing.cfr")
    with pytest.raises(OSError):
        read_bytes(tmp_path / "missing.cfr")
    assert issubclass(InputFileError, OSError)


def test_progress_updates_are_separated_when_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    progress = StderrProgress(True, interval=0.0)
    for stage in ("estimate", "encode"):
        for i in range(1, 4):
            progress(stage, i, 3)
    lines = capsys.readouterr().err.split("\n")
    assert lines == ["estimate: 1/3", "estimate: 2/3", "estimate: 3/3", "encode: 1/3", "encode: 2/3", "encode: 3/3", ""]


def test_progress_overwrites_the_line_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    progress = StderrProgress(True, interval=0.0)
    for i in range(1, 4):
        progress("decode", i, 3)
    err = capsys.readouterr().err
    assert err == "\rdecode: 1/3\x1b[K\rdecode: 2/3\x1b[K\rdecode: 3/3\x1b[K\n"
    assert math.isclose(len(err.split("\r")), 4)


def test_a_component_constructor_bug_is_a_plugin_error():
    class Fragile(UniformQuantizer):
        id = "fragile-uniform"

        def __init__(self, config=None):
            raise KeyError("step")

    with registry.registered(Fragile):
        with pytest.raises(PluginError, match=r"quantizer 'fragile-uniform'.*construction.*KeyError") as err:
            Pipeline.from_config({"quantizer": "fragile-uniform"})
    assert isinstance(err.value.__cause__, KeyError)


@pytest.fixture(scope="module")
def fuzz_harness():
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz"))
    try:
        import harness
    finally:
        sys.path.pop(0)
    return harness, harness.seeds_for("all")


@settings(max_examples=30 if os.environ.get("NUMBA_DISABLE_JIT") else 150, deadline=None)
@given(mode=st.sampled_from([1, 2, 2, 2, 3]), payload=st.binary(min_size=1, max_size=48),
       target=st.sampled_from(["all", "info"]))
def test_header_aware_edits_of_every_positive_vector_never_crash(fuzz_harness, mode, payload, target):
    """Structural fuzzing in miniature: CRC-repaired, header-edited and stream-edited vectors give
    "ok" or a codecframe error; a foreign exception, a PluginError or a RuntimeWarning fails."""
    harness, seeds = fuzz_harness
    data = bytes([mode]) + (payload if mode != 1 else seeds[payload[0] % len(seeds)][: 64 + 8 * len(payload)])
    assert harness.check(target, data, seeds) in ("ok", "rejected")


@pytest.mark.parametrize("meta", [{"rows": list(range((1 << 20) + 1))}, {"s": "x" * ((1 << 16) + 1)},
                                  {"m": {str(i): 0 for i in range((1 << 16) + 1)}}])
def test_writer_respects_the_reader_limits(meta):
    post = GaussianPosterior(mean=np.zeros(3), std=np.ones(3))
    with pytest.raises(LimitError, match="would not be readable"):
        Pipeline().encode({"w": post}, meta=meta)


@settings(max_examples=200, deadline=None)
@given(code=st.integers(-128, 127).filter(lambda c: c != 1), payload=st.binary(max_size=40),
       where=st.sampled_from(["top", "map", "list"]))
def test_every_ext_type_but_ndarray_is_refused(code, payload, where):
    """Spec §3.5: type 1 is the only ext type; msgpack's own types (timestamp −1) included."""
    packer = msgpack.Packer(use_bin_type=True)
    ext = packer.pack(msgpack.ExtType(code, payload)) if code >= 0 else _raw_ext(code, payload)
    raw = {"top": ext, "map": b"\x81\xa1k" + ext, "list": b"\x92\x01" + ext}[where]
    with pytest.raises(FormatError):
        canonical.unpack(raw)


def _raw_ext(code: int, payload: bytes) -> bytes:
    n = len(payload)
    head = {1: b"\xd4", 2: b"\xd5", 4: b"\xd6", 8: b"\xd7", 16: b"\xd8"}.get(n)
    head = head if head is not None else b"\xc7" + bytes([n])
    return head + code.to_bytes(1, "big", signed=True) + payload


def test_ndarray_ext_must_use_the_shortest_ext_form():
    arr = np.arange(3, dtype=np.uint16)  # payload 2 + 8 + 6 = 16 bytes: fixext 16
    packed = canonical.pack(arr)
    assert packed[:2] == b"\xd8\x01" and np.array_equal(canonical.unpack(packed), arr)
    as_ext8 = b"\xc7\x10\x01" + packed[2:]
    with pytest.raises(FormatError, match="canonical"):
        canonical.unpack(as_ext8)
    assert canonical.pack(np.arange(4, dtype=np.uint16))[:3] == b"\xc7\x12\x01"  # 18 bytes: ext 8


def test_a_dequantize_that_returns_no_array_is_a_format_error():
    class Odd(UniformQuantizer):
        id = "uniform"

        def dequantize(self, q):
            return {"not": "an array"}

    from codecframe.registry import Registry

    reg = Registry()
    reg.register(Odd, replace=True)
    with pytest.raises(FormatError, match="quantizer returned dict"):
        decode(_file(), registry=reg)
