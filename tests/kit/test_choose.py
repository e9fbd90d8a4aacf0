"""Choosing between distributions that claim one component id: ``registry.choose``, ``--choose`` and
``CODECFRAME_CHOOSE``, so that a broken duplicate does not block decoding."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codecframe import Pipeline
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.errors import ConfigError, DuplicateComponentError
from codecframe.registry import CHOOSE_ENV, Registry, parse_choice

CLI = [str(Path(sys.executable).parent / "codecframe")]


def broken_duplicate(root: Path) -> Path:
    """A distribution ``evil_plugin`` whose quantizer ``uniform`` fails to import."""
    info = root / "evil_plugin-6.6.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text("[codecframe.quantizers]\nuniform = evilmod:Uniform\n")
    (info / "METADATA").write_text("Name: evil_plugin\nVersion: 6.6\n")
    (root / "evilmod.py").write_text("raise ImportError('this plugin is broken')\n")
    return root


@pytest.fixture
def site(tmp_path):
    return broken_duplicate(tmp_path / "site")


def test_parse_choice():
    assert parse_choice(" quantizer:uniform=codecframe ") == ("quantizer", "uniform", "codecframe")
    assert parse_choice("entropy_coder:byte-rans=codecframe_pyrans") == ("entropy_coder", "byte-rans", "codecframe_pyrans")
    for bad in ("quantizer:uniform", "uniform=codecframe", "quantizer:uniform=", "sorter:x=codecframe", "a:b=c d"):
        with pytest.raises(ConfigError):
            parse_choice(bad)


def test_choice_by_call_and_by_environment(site, monkeypatch):
    path = [str(site), *sys.path]
    reg = Registry(path=path)
    with pytest.raises(DuplicateComponentError, match="--choose quantizer:uniform=DISTRIBUTION or \\$CODECFRAME_CHOOSE"):
        reg.get("quantizer", "uniform")
    monkeypatch.setenv(CHOOSE_ENV, "allocator:fixed=nobody, quantizer:uniform=CODECFRAME")
    assert reg.entry("quantizer", "uniform").distribution == "codecframe"  # names compare normalised
    monkeypatch.setenv(CHOOSE_ENV, "quantizer:uniform=nobody")
    with pytest.raises(DuplicateComponentError, match="'nobody', the chosen distribution, provides none"):
        reg.get("quantizer", "uniform")
    reg.choose_all(["quantizer:uniform=evil-plugin"])  # an explicit choice wins over the environment
    assert reg.entry("quantizer", "uniform").distribution == "evil-plugin"
    monkeypatch.delenv(CHOOSE_ENV)
    good = broken_duplicate(site.parent / "good")  # a second, loadable distribution of a fixed-allocator id
    (good / "evil_plugin-6.6.dist-info" / "entry_points.txt").write_text(
        "[codecframe.allocators]\nfixed = codecframe.builtins.allocators:FixedAllocator\n")
    two = Registry(path=[str(good), *sys.path])
    rows = {r["distribution"]: r["status"] for r in two.listing() if r["id"] == "fixed"}
    assert rows == {"codecframe": "duplicate", "evil-plugin": "duplicate"}
    two.choose("allocator", "fixed", "evil_plugin")
    rows = {r["distribution"]: r["status"] for r in two.listing() if r["id"] == "fixed"}
    assert rows == {"codecframe": "duplicate", "evil-plugin": "chosen"}
    monkeypatch.setenv(CHOOSE_ENV, "quantizer=uniform")
    with pytest.raises(ConfigError, match="CODECFRAME_CHOOSE"):
        Registry(path=path).get("quantizer", "uniform")


def test_cli_decodes_past_a_broken_duplicate(site, tmp_path):
    groups = {"w": GaussianPosterior.example(np.random.default_rng(0), (8, 8))}
    (tmp_path / "a.cfr").write_bytes(Pipeline.from_config({"quantizer": {"id": "uniform"}}).encode(groups))
    env = {k: v for k, v in os.environ.items() if k != CHOOSE_ENV}
    env["PYTHONPATH"] = str(site)

    def cli(*args, extra_env=None):
        return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                              env={**env, **(extra_env or {})})

    out = cli("decode", "a.cfr", "-o", "a.npz")
    assert out.returncode == 1 and "several distributions" in out.stderr and "Traceback" not in out.stderr
    out = cli("--choose", "quantizer:uniform=codecframe", "decode", "a.cfr", "-o", "b.npz")
    assert out.returncode == 0, out.stderr
    out = cli("decode", "a.cfr", "-o", "c.npz", extra_env={CHOOSE_ENV: "quantizer:uniform=codecframe"})
    assert out.returncode == 0, out.stderr
    assert np.array_equal(np.load(tmp_path / "b.npz")["w"], np.load(tmp_path / "c.npz")["w"])
    listed = json.loads(cli("--choose", "quantizer:uniform=codecframe", "plugins", "--json").stdout)["components"]
    status = {r["distribution"]: r["status"] for r in listed if (r["kind"], r["id"]) == ("quantizer", "uniform")}
    assert status == {"codecframe": "chosen", "evil-plugin": "error"}
    out = cli("--choose", "quantizer-uniform", "decode", "a.cfr", "-o", "d.npz")
    assert out.returncode == 1 and "kind:id=distribution" in out.stderr and "Traceback" not in out.stderr
