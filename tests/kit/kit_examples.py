"""Installing an example plugin from a clean copy, offline, and running commands against it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent


def install(example: Path, tmp: Path) -> Path:
    """A clean, non-editable install of ``example`` into an empty --target directory; returns that directory."""
    src = tmp / "src"
    shutil.copytree(example, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(target), str(src)], check=True, timeout=300)
    return target


def run(site: Path, argv: list[str], cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(argv, cwd=cwd or site.parent, env=env, capture_output=True, text=True, timeout=timeout)


def public_imports(example: Path) -> set[str]:
    """The ``codecframe.*`` modules the example's tests import."""
    sources = "\n".join(p.read_text() for p in (example / "tests").glob("*.py"))
    imports = {line.split()[1] for line in sources.splitlines() if line.startswith(("import ", "from "))}
    return {i for i in imports if i.startswith("codecframe.")}
