import json
import subprocess
import sys

import numpy as np
import pytest

from codecframe.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plugins_json_lists_builtins_with_versions(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    listing = json.loads(out)
    rows = {(r["kind"], r["id"]): r for r in listing["components"]}
    for key in [("posterior", "gaussian"), ("quantizer", "uniform"), ("allocator", "fixed"),
                ("allocator", "lagrangian"), ("entropy_coder", "range"), ("entropy_coder", "rans")]:
        assert rows[key]["version"] == 1 and rows[key]["distribution"] == "codecframe"
        assert rows[key]["status"] == "ok"
    broken = [r for r in listing["components"] if r["status"] == "error"] + listing["command_failures"]
    assert code == (1 if broken else 0)


@pytest.mark.nojit
def test_encode_decode_info_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(3)
    mean = rng.standard_normal((30, 20)).astype(np.float32)
    np.savez(tmp_path / "in.npz", **{"w.mean": mean, "w.std": np.full_like(mean, 0.2),
                                      "b.mean": np.arange(5.0), "b.std": np.ones(5)})
    (tmp_path / "cfg.toml").write_text('[quantizer]\nid = "uniform"\nstep = 0.125\n')
    code, out, _ = run(capsys, "encode", str(tmp_path / "in.npz"), "-c", str(tmp_path / "cfg.toml"),
                       "-o", str(tmp_path / "x.cfr"))
    assert code == 0 and "bits per element" in out
    code, _, _ = run(capsys, "decode", str(tmp_path / "x.cfr"), "-o", str(tmp_path / "out.npz"))
    assert code == 0
    with np.load(tmp_path / "out.npz") as z:
        expected = (np.rint(mean.astype(np.float64) / 0.125) * 0.125).astype(np.float32)
        assert np.array_equal(z["w"], expected) and z["w"].dtype == np.float32
        assert np.array_equal(z["b"], np.arange(5.0))
    code, out, _ = run(capsys, "info", str(tmp_path / "x.cfr"))
    assert code == 0 and "uniform" in out and "group 'w'" in out and "bits/value" in out and "crc32" not in out
    code, out, _ = run(capsys, "info", "--verbose", str(tmp_path / "x.cfr"))
    assert code == 0 and "crc32" in out and '"counts": [' in out
    code, out, _ = run(capsys, "info", "--json", str(tmp_path / "x.cfr"))
    info = json.loads(out)
    assert info["header"]["pipeline"]["quantizer"]["step"] == 0.125 and len(info["streams"]) == 2


def test_errors_have_exit_codes_and_leave_no_partial_file(tmp_path, capsys):
    (tmp_path / "bad.cfr").write_bytes(b"\x89CFR\x01\x00\x00\x00\xff\xff\xff\xff")
    code, _, err = run(capsys, "info", str(tmp_path / "bad.cfr"))
    assert code == 2 and "codecframe: error:" in err and "header length" in err
    code, _, err = run(capsys, "decode", str(tmp_path / "missing.cfr"), "-o", str(tmp_path / "o.npz"))
    assert code == 3 and "no such file" in err
    np.savez(tmp_path / "nan.npz", mean=np.array([np.nan]), std=np.ones(1))
    (tmp_path / "out.cfr").write_bytes(b"keep me")
    code, _, err = run(capsys, "encode", str(tmp_path / "nan.npz"), "-c", '{"quantizer": "uniform"}',
                       "-o", str(tmp_path / "out.cfr"))
    assert code == 1 and "NaN" in err
    assert (tmp_path / "out.cfr").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.cfr", "nan.npz", "out.cfr"]
    with pytest.raises(SystemExit) as exc:
        main(["encode"])
    assert exc.value.code == 2


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "codecframe.cli.main", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("codecframe ")
