"""The coverage table in docs/conformance.md is the one the stored corpus produces."""

from pathlib import Path

import pytest

from codecframe.conformance import Corpus, default_corpus
from codecframe.conformance.coverage import coverage, coverage_table, replace_marked, vector_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def test_docs_coverage_table_is_current():
    text = DOC.read_text()
    assert replace_marked(text, coverage_table(Corpus(default_corpus()))) == text, (
        "run: codecframe conformance coverage --update docs/conformance.md")


def test_every_core_spec_section_with_rules_has_a_vector():
    table = coverage(Corpus(default_corpus()))
    for section in ("bitstream §2", "bitstream §3", "bitstream §4", "bitstream §5", "bitstream §6",
                    "bitstream §7.2", "bitstream §7.4", "range-coder §3", "range-coder §4", "range-coder §5",
                    "range-coder §6"):
        assert any(s == section or s.startswith(section + ".") for s in table), section
    assert all(table[s]["negative"] for s in ("bitstream §2", "bitstream §3", "bitstream §4", "bitstream §5"))


def test_vector_table_lists_outcomes_per_spec():
    corpus = Corpus(default_corpus())
    table = vector_table(corpus, "bitstream")
    assert "| `neg-trailing-garbage` | negative | §2 | *TrailingDataError* |" in table
    assert "`core-uniform-range-p16` | positive" in table and "decodes exactly" in table
    assert "neg-gmvq-dtype-float64" not in table  # a GM-VQ-only vector


@pytest.mark.parametrize("spec", ["bitstream", "range-coder", "vbq", "bayesq", "gmvq"])
def test_spec_vector_tables_are_current(spec):
    path = DOC.parents[1] / "specs" / f"{spec}.md"
    text = path.read_text()
    corpus = Corpus(default_corpus())
    expected = coverage_table(corpus, spec) + "\n\n" + vector_table(corpus, spec)
    assert replace_marked(text, expected) == text, (
        f"run: codecframe conformance coverage --spec {spec} --vectors --update specs/{spec}.md")
