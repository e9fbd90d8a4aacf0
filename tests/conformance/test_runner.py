"""The generator is append-only, the runner judges any decoder through the external protocol, and the CLI works."""

import json
import shutil
import sys
import textwrap

import pytest

from codecframe.cli import conformance_cmd
from codecframe.conformance import CommandDecoder, Corpus, CorpusError, InProcessDecoder, default_corpus, generate, run
from codecframe.conformance.cases import BASE, CASES, NegativeCase
from codecframe.conformance.generate import build_negative
from codecframe.errors import CodecframeError

SUBSET = [BASE, "core-uniform-edge-groups", "neg-truncated-stream-payload", "neg-unknown-component"]
DECODE_ONE = f"{sys.executable} -m codecframe.cli.conformance_cmd decode-one {{in}} {{out}}"


@pytest.fixture
def corpus(tmp_path):
    """A copy of four stored vectors with their manifest entries."""
    source = Corpus(default_corpus())
    manifest = source.manifest()
    root = tmp_path / "vectors"
    root.mkdir()
    for name in SUBSET:
        shutil.copytree(source.root / name, root / name)
    files = {k: v for k, v in manifest["files"].items() if k.split("/")[0] in SUBSET}
    (root / "manifest.json").write_text(json.dumps({"format": 1, "vectors": SUBSET, "files": files}))
    return Corpus(root)


@pytest.mark.nojit
def test_generate_writes_only_new_vectors(tmp_path):
    fresh = Corpus(tmp_path / "fresh")
    first = generate(fresh, only=[BASE, "neg-trailing-garbage"])
    assert [g.status for g in first] == ["written", "written"]
    stored = (fresh.root / BASE / "stream.cfr").read_bytes()
    assert stored == (Corpus(default_corpus()).root / BASE / "stream.cfr").read_bytes()  # the encoder is deterministic
    with pytest.raises(CorpusError, match="already exist"):
        generate(fresh, only=[BASE])
    subset = [c for c in CASES if c.name in (BASE, "neg-trailing-garbage", "neg-bad-magic")]
    again = generate(fresh, cases=subset)
    assert {g.name: g.status for g in again} == {BASE: "exists", "neg-trailing-garbage": "exists", "neg-bad-magic": "written"}
    assert fresh.verify() == {} and fresh.names() == [BASE, "neg-trailing-garbage", "neg-bad-magic"]


def test_a_modified_vector_is_reported_and_blocks_additions(corpus):
    path = corpus.root / BASE / "stream.cfr"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    assert set(corpus.verify()) == {BASE}
    with pytest.raises(CorpusError, match="not intact"):
        generate(corpus, only=["neg-bad-magic"])
    results = {r.name: r for r in run(corpus, InProcessDecoder())}
    assert not results[BASE].passed and results[BASE].got == "corrupted"
    assert results["neg-unknown-component"].passed


def test_a_negative_case_the_decoder_accepts_is_never_stored(corpus):
    case = NegativeCase("neg-identity", "not a defect at all", ("none",), ("bitstream §2",), BASE, lambda d: d, "FormatError")
    with pytest.raises(CodecframeError, match="accepted the file"):
        build_negative(case, corpus)


def test_external_decoder_protocol_with_the_reference_adapter(corpus):
    results = run(corpus, CommandDecoder(DECODE_ONE), strict_errors=True)
    assert all(r.passed for r in results), [r for r in results if not r.passed]


def write_script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return f"{sys.executable} {path} {{in}} {{out}}"


def test_wrong_lenient_and_hanging_external_decoders_fail(corpus, tmp_path):
    off_by_one = write_script(tmp_path, "off_by_one.py", """
        import subprocess, sys, numpy as np
        subprocess.run([sys.executable, "-m", "codecframe.cli.conformance_cmd", "decode-one", *sys.argv[1:]], check=True)
        data = dict(np.load(sys.argv[2]))
        data = {k: (v + 1 if k.startswith("symbols.") and v.size else v) for k, v in data.items()}
        np.savez(sys.argv[2], **data)
    """)
    results = {r.name: r for r in run(corpus, CommandDecoder(off_by_one), names=[BASE, "neg-unknown-component"])}
    assert not results[BASE].passed and "symbols differ" in results[BASE].detail
    assert results["neg-unknown-component"].passed  # still rejects
    accepts_all = write_script(tmp_path, "accepts_all.py", """
        import sys, numpy as np
        np.savez(sys.argv[2])
    """)
    results = {r.name: r for r in run(corpus, CommandDecoder(accepts_all))}
    assert not any(r.passed for r in results.values())
    assert results["neg-truncated-stream-payload"].detail == "accepted a file that must be rejected"
    hangs = write_script(tmp_path, "hangs.py", "import time; time.sleep(60)\n")
    result = run(corpus, CommandDecoder(hangs, timeout=0.5), names=["neg-unknown-component"])[0]
    assert not result.passed and result.got == "Timeout"
    with pytest.raises(CodecframeError, match="must contain"):
        CommandDecoder("decoder --input {in}")


def test_error_class_matching_for_external_decoders(corpus, tmp_path):
    vague = write_script(tmp_path, "vague.py", "import sys; print('cannot decode', file=sys.stderr); sys.exit(2)\n")
    neg = ["neg-truncated-stream-payload"]
    assert run(corpus, CommandDecoder(vague), names=neg)[0].passed  # rejected; class not required by default
    strict = run(corpus, CommandDecoder(vague), names=neg, strict_errors=True)[0]
    assert not strict.passed and "expected LimitError" in strict.detail
    named = write_script(tmp_path, "named.py", "import sys; print('error: LimitError: short', file=sys.stderr); sys.exit(1)\n")
    assert run(corpus, CommandDecoder(named), names=neg, strict_errors=True)[0].passed
    parent = write_script(tmp_path, "parent.py", "import sys; print('FormatError', file=sys.stderr); sys.exit(1)\n")
    assert not run(corpus, CommandDecoder(parent), names=neg, strict_errors=True)[0].passed  # too vague a class


def test_cli_run_generate_and_coverage(corpus, tmp_path, capsys):
    results = tmp_path / "results.json"
    assert conformance_cmd.main(["run", "--corpus", str(corpus.root), "--results", str(results)]) == 0
    report = json.loads(results.read_text())
    assert report["summary"] == {"total": 4, "passed": 4, "failed": 0}
    assert "4/4 vectors passed" in capsys.readouterr().out
    assert conformance_cmd.main(["generate", "--corpus", str(corpus.root), "--only", BASE]) == 1
    assert "already exist" in capsys.readouterr().err
    assert conformance_cmd.main(["coverage", "--corpus", str(corpus.root), "--spec", "bitstream"]) == 0
    table = capsys.readouterr().out
    assert "| bitstream §2 |" in table and "`neg-truncated-stream-payload`" in table and "range-coder" not in table


def test_the_codecframe_command_has_the_conformance_subcommand(corpus, capsys):
    """Installed through the core's own ``codecframe.commands`` entry point, like any plugin command."""
    from codecframe.cli import main as cli

    assert cli.main(["conformance", "run", "--corpus", str(corpus.root), "--only", BASE]) == 0
    assert "1/1 vectors passed" in capsys.readouterr().out


def test_the_contract_plugin_is_installed_under_its_module_name():
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="pytest11") if e.value == "codecframe.testing.pytest_plugin"]
    assert plugin.name == plugin.value  # so `-p codecframe.testing.pytest_plugin` does not load it twice


def test_a_plugin_case_set_never_defaults_to_the_core_corpus(corpus, capsys):
    manifest_before = (default_corpus() / "manifest.json").read_bytes()
    for action in ("generate", "coverage"):
        assert conformance_cmd.main([action, "--cases", "vbq"]) == 1
        assert "pass --corpus DIR" in capsys.readouterr().err
    assert (default_corpus() / "manifest.json").read_bytes() == manifest_before
    assert conformance_cmd.main(["coverage", "--cases", "core", "--corpus", str(corpus.root)]) == 0
    assert "`neg-unknown-component`" in capsys.readouterr().out
    assert conformance_cmd.main(["coverage", "--cases", "vbq", "--corpus", str(corpus.root)]) == 0
    assert "`neg-unknown-component`" not in capsys.readouterr().out  # only the vbq set's vectors (none here)
    assert conformance_cmd.main(["generate", "--cases", "no-such-set", "--corpus", str(corpus.root)]) == 0
    assert "skipped  <case set no-such-set>: no conformance case set 'no-such-set'" in capsys.readouterr().out


def test_generate_records_the_case_sets_of_a_corpus(tmp_path):
    from codecframe.conformance import case_sets

    fresh = Corpus(tmp_path / "fresh")
    cases = [c for c in case_sets.load("core") if c.name in (BASE, "neg-bad-magic")]
    generate(fresh, cases=cases)
    assert fresh.case_sets() == ["core"]  # the default of a manifest that lists none
    with pytest.raises(CodecframeError, match="no conformance case set"):
        case_sets.load("no-such-set")
    fresh.record_case_sets(["core", "vbq"])
    assert fresh.case_sets() == ["core", "vbq"]


def test_drift_reports_a_stored_vector_the_cases_no_longer_reproduce(corpus, tmp_path):
    from codecframe.conformance.generate import drift

    assert drift(corpus, ["core"], tmp_path / "a") == {}
    path = corpus.root / "core-uniform-edge-groups" / "case.json"
    case = json.loads(path.read_text())
    case["description"] += " (edited)"
    path.write_text(json.dumps(case, indent=1, ensure_ascii=False) + "\n")
    assert drift(corpus, ["core"], tmp_path / "b") == {"core-uniform-edge-groups": "case.json differ"}
