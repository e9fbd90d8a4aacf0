"""The out-of-tree example plugin installs cleanly, is discovered, and works from config with no core change."""

import json
import subprocess
import sys
import textwrap

import pytest

from kit_examples import BIN, EXAMPLES, install, public_imports, run

EXAMPLE = EXAMPLES / "codecframe-deadzone"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = install(EXAMPLE, tmp_path_factory.mktemp("example"))
    assert (target / "codecframe_deadzone" / "assets" / "laplace-k64.safetensors").is_file()
    return target


def test_example_is_listed_by_codecframe_plugins(site):
    out = run(site, [str(BIN / "codecframe"), "plugins", "--json"])
    rows = {(r["kind"], r["id"]): r for r in json.loads(out.stdout)["components"]}
    for key in (("posterior", "laplace"), ("quantizer", "deadzone")):
        assert rows[key]["distribution"] == "codecframe-deadzone"
        assert rows[key]["status"] == "ok" and rows[key]["version"] == 1
    assert ("quantizer", "deadzone") not in {(r["kind"], r["id"]) for r in json.loads(
        subprocess.run([str(BIN / "codecframe"), "plugins", "--json"], capture_output=True, text=True,
                       cwd=site.parent, timeout=300).stdout)["components"]}


def test_example_works_in_a_pipeline_built_from_config(site):
    script = textwrap.dedent("""
        import numpy as np, codecframe
        from codecframe.registry import registry
        post_cls = registry.get("posterior", "laplace")
        rng = np.random.default_rng(3)
        groups = {"w": post_cls.example(rng, (40, 20)), "b": post_cls.example(rng, (20,))}
        prior = registry.get("quantizer", "deadzone").examples()[-1]["prior"]
        for quantizer in ({"id": "deadzone", "rounding": 0.25}, {"id": "deadzone", "prior": prior}):
            pipe = codecframe.Pipeline.from_config(
                {"posterior": "laplace", "quantizer": quantizer, "allocator": {"id": "lagrangian", "target_bpe": 4.0}})
            data = pipe.encode(groups)
            out = codecframe.decode(data)
            rmse = max(float(np.sqrt(np.mean((out.arrays[k] - g.mean) ** 2))) for k, g in groups.items())
            print(out.header["pipeline"]["quantizer"]["id"], out.header["provenance"]["quantizer"]["distribution"],
                  len(data), round(rmse, 4))
    """)
    out = run(site, [sys.executable, "-c", script])
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines()]
    assert len(lines) == 2
    for qid, dist, nbytes, rmse in lines:
        assert (qid, dist) == ("deadzone", "codecframe-deadzone")
        assert 8 * int(nbytes) <= 4.0 * 820 + 8 * 1200  # target rate plus the container header
        assert float(rmse) < 1.0  # Laplace(0, 1) data: a coarse but working reconstruction


def test_example_own_tests_pass_with_only_the_public_kit(site):
    assert public_imports(EXAMPLE) <= {"codecframe.testing"}
    out = run(site, [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"),
                     "--rootdir", str(EXAMPLE), "-c", str(EXAMPLE / "pyproject.toml")], timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
