"""The corpus carries every asset its vectors reference, and external decoders are told where the store is."""

import hashlib
import json
import shutil
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecframe.conformance import CommandDecoder, Corpus, default_corpus, run
from codecframe.conformance.cases import FOREIGN_ASSET
from codecframe.conformance.generate import asset_references
from codecframe.errors import CodecframeError

CORPUS = Corpus(default_corpus())
DECODE_ONE = f"{sys.executable} -m codecframe.cli.conformance_cmd decode-one {{in}} {{out}}"
LLOYD = "bayesq-lloyd-table-asset-2bit"


def _references(kind):
    found = {}
    for v in CORPUS.vectors():
        if v.kind == kind:
            try:
                found[v.name] = asset_references(v.file(v.case["file"]))
            except CodecframeError:  # a negative vector whose container does not parse references nothing
                assert kind == "negative"
    return found


def test_the_store_holds_exactly_the_assets_positive_vectors_reference_and_hashes_verify():
    refs = _references("positive")
    wanted = {ref for found in refs.values() for ref in found.values()}
    # VBQ tables and image VAE of four models, the fifth model's VAE (it uses the fourth's tables), the
    # Lloyd-Max table, the GM-VQ checkpoint
    assert len(wanted) == 11
    manifest = CORPUS.assets()
    assert set(manifest) == wanted
    store = CORPUS.asset_dir
    assert store == (default_corpus().parent / "assets").resolve()
    assert sorted(p.name for p in store.iterdir()) == sorted(f"sha256-{r[7:]}.bin" for r in wanted)
    for ref, entry in manifest.items():
        data = (store / entry["file"]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == ref and entry["bytes"] == len(data)
        assert entry["spec_sections"] and entry["description"]
        assert sorted(entry["vectors"]) == sorted(n for n, found in refs.items() if ref in found.values())
    negatives = _references("negative")
    assert sum(FOREIGN_ASSET in found.values() for found in negatives.values()) == 3
    for found in negatives.values():  # a foreign reference stays unresolvable
        assert FOREIGN_ASSET not in manifest and set(found.values()) - {FOREIGN_ASSET} <= wanted


@pytest.fixture
def lloyd_corpus(tmp_path):
    """The Lloyd-table vector, its foreign-table negative and their asset, in a corpus of their own."""
    names = [LLOYD, "neg-bayesq-lloyd-foreign-table"]
    root = tmp_path / "vectors"
    root.mkdir()
    for name in names:
        shutil.copytree(CORPUS.root / name, root / name)
    manifest = CORPUS.manifest()
    assets = {r: e for r, e in manifest["assets"].items() if LLOYD in e["vectors"]}
    (tmp_path / "store").mkdir()
    for entry in assets.values():
        shutil.copy(CORPUS.asset_dir / entry["file"], tmp_path / "store" / entry["file"])
    (root / "manifest.json").write_text(json.dumps({
        "format": 1, "vectors": names, "files": {k: v for k, v in manifest["files"].items() if k.split("/")[0] in names},
        "asset_dir": "../store", "assets": assets}))
    return Corpus(root)


def test_a_modified_or_unlisted_asset_makes_its_vectors_fail(lloyd_corpus):
    assert lloyd_corpus.verify() == {}
    (asset,) = lloyd_corpus.asset_dir.iterdir()
    asset.write_bytes(asset.read_bytes() + b"\0")
    problems = lloyd_corpus.verify()
    assert problems[LLOYD] == f"asset {asset.name} does not match its hash" and f"assets/{asset.name}" in problems
    (lloyd_corpus.asset_dir / ("sha256-" + "0" * 64 + ".bin")).write_bytes(b"x")
    assert "not in the manifest" in lloyd_corpus.verify()["assets/sha256-" + "0" * 64 + ".bin"]


def test_the_runner_tells_an_external_decoder_where_the_assets_are(lloyd_corpus, tmp_path):
    log = tmp_path / "seen.json"
    script = tmp_path / "record.py"
    script.write_text(
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': os.environ.get('CODECFRAME_CONFORMANCE_ASSETS')}}, open({str(log)!r}, 'w'))\n"
        "sys.exit(1)\n")
    run(lloyd_corpus, CommandDecoder(f"{sys.executable} {script} {{in}} {{out}} --store={{assets}}", assets=lloyd_corpus.asset_dir),
        names=[LLOYD])
    seen = json.loads(log.read_text())
    store = str(lloyd_corpus.asset_dir)
    assert seen["argv"][2] == f"--store={store}" and seen["env"] == store and store.endswith("store")


def test_the_reference_decoder_reads_assets_only_from_the_store_it_is_given(lloyd_corpus, tmp_path):
    """decode-one --assets ignores installed assets: with the corpus's store it passes, with an empty one it
    cannot find the table (so the pass came from the store), through both the argument and the variable."""
    with_store = run(lloyd_corpus, CommandDecoder(DECODE_ONE + " --assets {assets}", assets=lloyd_corpus.asset_dir),
                     strict_errors=True)
    assert [r.passed for r in with_store] == [True, True], with_store
    empty = tmp_path / "empty"
    empty.mkdir()
    (without,) = run(lloyd_corpus, CommandDecoder(DECODE_ONE, assets=empty), names=[LLOYD])
    assert not without.passed and without.got == "AssetError" and "asset store in use has no" in without.detail


def test_the_cli_runs_an_external_decoder_with_the_corpus_store(lloyd_corpus, capsys):
    from codecframe.cli import conformance_cmd

    decoder = DECODE_ONE + " --assets {assets}"
    assert conformance_cmd.main(["run", "--corpus", str(lloyd_corpus.root), "--decoder", decoder, "--match-errors"]) == 0
    assert "2/2 vectors passed" in capsys.readouterr().out


def _asset_vectors():
    return sorted({n for entry in CORPUS.assets().values() for n in entry["vectors"]})


def test_every_asset_vector_decodes_externally_from_the_store_alone(tmp_path):
    """The VBQ tables, the Lloyd-Max table and the GM-VQ checkpoint reach the isolated reference decoder only
    through the protocol: with the store every asset vector passes, with an empty store one per plugin fails."""
    names = _asset_vectors()
    assert len(names) == 11
    results = run(CORPUS, CommandDecoder(DECODE_ONE + " --assets {assets}", assets=CORPUS.asset_dir), names=names)
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    empty = tmp_path / "empty"
    empty.mkdir()
    one_each = ["gmvq-digits-usage-range-p16", "vbq-image-fitted-lambda-0p3-range"]  # the Lloyd table: above
    results = run(CORPUS, CommandDecoder(DECODE_ONE, assets=empty), names=one_each)
    assert [r.got for r in results] == ["AssetError"] * 2


@pytest.mark.slow
def test_the_whole_corpus_passes_an_external_decoder_given_assets_only_through_the_protocol():
    results = run(CORPUS, CommandDecoder(DECODE_ONE + " --assets {assets}", assets=CORPUS.asset_dir), strict_errors=True)
    assert len(results) == len(CORPUS.names()) and all(r.passed for r in results), [r for r in results if not r.passed]


def test_generate_stores_each_referenced_asset_once_with_its_spec_section(tmp_path):
    import dataclasses

    from codecframe.assets import register_asset
    from codecframe.conformance import generate
    from codecframe.conformance.cases import BASE, CASES
    from codecframe.conformance.corpus import CorpusError

    (tmp_path / "table.bin").write_bytes(b"a learned table")
    ref = register_asset(tmp_path / "table.bin")
    base = next(c for c in CASES if c.name == BASE)
    case = dataclasses.replace(base, name="with-asset", meta={"model": ref, "again": [ref]},
                               assets={"meta.model": ("x §1", "a table"), "meta.again.0": ("x §1", "a table")})
    fresh = Corpus(tmp_path / "vectors")
    (written,) = generate(fresh, cases=[case])
    assert written.status == "written" and fresh.verify() == {}
    assert fresh.assets() == {ref: {"file": f"sha256-{ref[7:]}.bin", "bytes": 15, "spec_sections": ["x §1"],
                                    "description": "a table", "vectors": ["with-asset"]}}
    assert (fresh.asset_dir / f"sha256-{ref[7:]}.bin").read_bytes() == b"a learned table"
    undeclared = dataclasses.replace(case, name="undeclared", assets={"meta.model": ("x §1", "a table")})
    with pytest.raises(CorpusError, match="meta.again.0"):
        generate(fresh, cases=[undeclared])
    assert fresh.names() == ["with-asset"]  # refused before anything was stored


_KEYS = st.text("abcxyz_", min_size=1, max_size=4)
_LEAVES = st.one_of(st.integers(-5, 5), st.text("ab sha256:", max_size=12), st.none(), st.booleans())


@settings(deadline=None, max_examples=40)
@given(tree=st.recursive(_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=12),
       digests=st.lists(st.binary(min_size=1, max_size=4), min_size=1, max_size=3))
def test_asset_references_finds_every_reference_at_its_location(tree, digests):
    """Any ``sha256:<64 hex>`` string anywhere in meta is found at its dotted location; nothing else is."""
    from codecframe.assets import asset_ref
    from codecframe.conformance.cases import BASE
    from codecframe.conformance.surgery import rewrite_header

    refs = [asset_ref(b) for b in digests]
    meta = {"tree": tree, **{f"r{i}": {"at": [0, ref]} for i, ref in enumerate(refs)}}
    data = rewrite_header(CORPUS.vector(BASE).file("stream.cfr"), lambda h: h.update(meta=meta))
    assert asset_references(data) == {f"meta.r{i}.at.1": ref for i, ref in enumerate(refs)}


def test_only_from_hides_the_installed_assets_for_its_block(tmp_path):
    from codecframe import assets
    from codecframe.errors import AssetError

    (ref,) = [r for r, e in CORPUS.assets().items() if LLOYD in e["vectors"]]
    installed = assets.find_asset(ref)
    assert installed.parent != CORPUS.asset_dir
    (tmp_path / f"sha256-{'0' * 64}.bin").write_bytes(b"wrong content under a valid name")
    with assets.only_from(tmp_path):
        with pytest.raises(AssetError, match="asset store in use has no"):
            assets.find_asset(ref)
        with pytest.raises(AssetError, match="no longer matches"):  # the name is not trusted
            assets.load_asset("sha256:" + "0" * 64)
        with assets.only_from(CORPUS.asset_dir):
            assert assets.find_asset(ref).parent == CORPUS.asset_dir
            assert assets.load_asset(ref) == installed.read_bytes()
    assert assets.find_asset(ref) == installed


def test_a_malformed_asset_entry_is_a_corpus_error(lloyd_corpus):
    from codecframe.conformance.corpus import CorpusError

    path = lloyd_corpus.root / "manifest.json"
    manifest = json.loads(path.read_text())
    (entry,) = manifest["assets"].values()
    entry["vectors"] = "bayesq-lloyd-table-asset-2bit"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CorpusError, match="spec_sections, description, vectors"):
        lloyd_corpus.verify()
