"""The documentation site: every fenced python block runs, and ``mkdocs build --strict`` passes offline."""

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SKIP = "<!-- docs-test: skip -->"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of each fenced ``python`` block not preceded by the skip marker."""
    blocks = []
    for m in re.finditer(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S):
        preceding = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if preceding.strip() != SKIP:
            blocks.append((text[: m.start()].count("\n") + 2, m.group(1)))
    return blocks


PAGES = [p for p in sorted([*DOCS.rglob("*.md"), ROOT / "README.md"]) if python_blocks(p.read_text())]


def test_block_extraction_honours_the_skip_marker():
    text = "a\n```python\nx = 1\n```\n" + SKIP + "\n```python\nraise SystemExit\n```\n```text\nno\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for line, code in python_blocks(page.read_text()):
        exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)


@pytest.mark.parametrize("module", ["codecframe", "codecframe.ecosystem.numcodecs_codec"])
def test_module_docstring_examples(module):
    pytest.importorskip("numcodecs")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_site_builds_strict_and_offline(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    assert (tmp_path / "site" / "tutorials" / "scale-out" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "ecosystem" / "index.html").is_file()
