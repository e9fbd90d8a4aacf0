"""The kit's pytest plugin parametrizes its fixtures over installed components, filtered by distribution."""

import subprocess
import sys

TEST_FILE = """
from codecframe.testing import suite

def test_component(codecframe_component):
    suite.check(codecframe_component)

def test_combination(codecframe_combination):
    assert suite.check_combination(codecframe_combination) == "ok"
"""


def pytest_run(tmp_path, *args):
    (tmp_path / "test_generated.py").write_text(TEST_FILE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # an empty config of its own (not /dev/null, which may not be a device)
    argv = [sys.executable, "-m", "pytest", "-p", "codecframe.testing.pytest_plugin", "-p", "no:cacheprovider",
            "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"), str(tmp_path / "test_generated.py"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path)


def test_fixtures_are_parametrized_per_installed_component(tmp_path):
    out = pytest_run(tmp_path, "--collect-only", "-q", "--codecframe-distribution", "codecframe",
                     "--codecframe-partners", "codecframe")
    ids = set(out.stdout.split())
    assert "test_generated.py::test_component[quantizer:uniform]" in ids
    assert "test_generated.py::test_component[entropy_coder:range]" in ids
    assert "test_generated.py::test_combination[gaussian+uniform+lagrangian+range]" in ids
    assert not any("vbq" in i or "gmvq" in i or "bayesq" in i for i in ids)


def test_selected_contracts_run_and_pass(tmp_path):
    out = pytest_run(tmp_path, "-q", "--codecframe-distribution", "codecframe", "--codecframe-partners", "codecframe",
                     "-k", "allocator or gaussian+uniform+fixed+range")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "3 passed" in out.stdout


def test_timeout_option_runs_checks_in_a_child(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import os\n"
        "def pytest_sessionstart(session):\n"
        "    print('KIT_TIMEOUT=' + os.environ.get('CODECFRAME_KIT_TIMEOUT', 'unset'))\n")
    out = pytest_run(tmp_path, "-q", "-s", "--codecframe-distribution", "codecframe", "--codecframe-timeout", "120",
                     "-k", "test_component and allocator")
    assert out.returncode == 0, out.stdout[-2000:]
    assert "KIT_TIMEOUT=120.0" in out.stdout and "2 passed" in out.stdout
