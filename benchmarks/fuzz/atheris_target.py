"""libFuzzer entry for one harness target:
``atheris_target.py VECTORS_DIR TARGET ARTIFACT_DIR [libFuzzer flags] CORPUS_DIR``.

Instruments codecframe and every installed plugin package for coverage (all their modules are
imported inside the instrumentation block), except modules that use numba, whose bytecode numba
compiles. A non-codecframe exception is recorded as a crash (input and signature under
ARTIFACT_DIR) and fuzzing continues; a hang (``-timeout``), a memory blow-up (``-rss_limit_mb``)
or a dying interpreter stops libFuzzer, which writes the input under ``-artifact_prefix``.
"""

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
GROUPS = ("codecframe.posteriors", "codecframe.quantizers", "codecframe.allocators", "codecframe.entropy_coders")
PACKAGES = sorted({ep.value.split(":")[0].split(".")[0] for g in GROUPS for ep in importlib.metadata.entry_points(group=g)})


def jitted_modules(packages: list[str]) -> list[str]:
    """Modules that use numba: numba compiles their bytecode, so they must stay uninstrumented."""
    out = []
    for pkg in packages:
        spec = importlib.util.find_spec(pkg)
        for root in spec.submodule_search_locations or []:
            for path in Path(root).rglob("*.py"):
                if "numba" in path.read_text(errors="replace"):
                    rel = path.relative_to(root).with_suffix("")
                    out.append(".".join((pkg, *rel.parts)).removesuffix(".__init__"))
    return out


with atheris.instrument_imports(include=PACKAGES, exclude=jitted_modules(PACKAGES)):
    from codecframe.conformance import Corpus
    from codecframe.registry import registry

    registry.listing()  # import every component module now, so that it is instrumented

import harness  # noqa: E402 - the input modes are not instrumented: coverage is measured on codecframe only

VECTORS = Corpus(sys.argv.pop(1))
TARGET = sys.argv.pop(1)
ARTIFACTS = Path(sys.argv.pop(1))
SEEDS = harness.seeds_for(TARGET, VECTORS)


def test_one_input(data: bytes) -> None:
    try:
        harness.check(TARGET, data, SEEDS)
    except Exception as exc:  # noqa: BLE001 - recorded, and the campaign goes on
        harness.record_crash(ARTIFACTS, TARGET, data, exc)


atheris.Setup(sys.argv, test_one_input)
atheris.Fuzz()
