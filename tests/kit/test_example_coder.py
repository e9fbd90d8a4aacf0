"""The out-of-tree example entropy coder (examples/codecframe-pyrans) installs cleanly, is discovered,
decodes from a file's header alone, and its own tests pass with only the public kit."""

import json
import sys
import textwrap

import pytest

from kit_examples import BIN, EXAMPLES, install, public_imports, run

EXAMPLE = EXAMPLES / "codecframe-pyrans"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install(EXAMPLE, tmp_path_factory.mktemp("coder"))


def test_coder_is_listed_by_codecframe_plugins(site):
    out = run(site, [str(BIN / "codecframe"), "plugins", "--json"])
    rows = {(r["kind"], r["id"]): r for r in json.loads(out.stdout)["components"]}
    row = rows[("entropy_coder", "byte-rans")]
    assert (row["distribution"], row["status"], row["version"]) == ("codecframe-pyrans", "ok", 1)


def test_a_file_coded_with_it_decodes_from_the_cli(site, tmp_path):
    script = textwrap.dedent(f"""
        import numpy as np, codecframe
        post = codecframe.registry.get("posterior", "gaussian").example(np.random.default_rng(1), (30, 10))
        pipe = codecframe.Pipeline.from_config({{"quantizer": {{"id": "uniform", "step": 0.05}},
            "allocator": {{"id": "fixed"}}, "entropy_coder": {{"id": "byte-rans", "precision": 20}}}})
        open({str(tmp_path / "w.cfr")!r}, "wb").write(pipe.encode({{"w": post}}))
    """)
    assert run(site, [sys.executable, "-c", script]).returncode == 0
    out = run(site, [str(BIN / "codecframe"), "info", str(tmp_path / "w.cfr")])
    assert out.returncode == 0 and "byte-rans" in out.stdout, out.stderr


def test_example_own_tests_pass_with_only_the_public_kit(site):
    assert public_imports(EXAMPLE) <= {"codecframe.testing", "codecframe.errors", "codecframe.probability"}
    out = run(site, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"),
                     "--rootdir", str(EXAMPLE), "-c", str(EXAMPLE / "pyproject.toml")], timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
