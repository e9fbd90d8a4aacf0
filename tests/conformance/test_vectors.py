"""Backward compatibility: every stored vector still decodes exactly as recorded (or is still rejected)."""

import json

import pytest

from codecframe.conformance import Corpus, InProcessDecoder, default_corpus
from codecframe.conformance.runner import check_vector

CORPUS = Corpus(default_corpus())
NAMES = CORPUS.names()
REQUIRED_FEATURES = {
    "positive": {"uniform", "range", "rans", "precision-12", "precision-16", "precision-24", "lagrangian",
                 "empty-group", "extras", "meta", "minor-version", "optional-field", "provenance-only-roles",
                 "multi-row-table", "indexes", "asset", "vbq", "bayesq-grid", "bayesq-lloyd", "gmvq",
                 "parametric", "gaussian", "laplace", "logistic", "escape", "default-config", "nesting-depth",
                 "fixext"},
    "negative": {"truncated", "bad-checksum", "unknown-major-version", "unknown-component", "declared-size-too-large",
                 "trailing-garbage", "non-canonical-header", "hash-mismatched-asset", "entropy-stream", "coder-config",
                 "nesting-depth", "ndarray-ext", "header-schema", "group-record", "extra-record"},
}


def test_corpus_is_intact():
    assert NAMES, "no vectors stored"
    assert CORPUS.verify() == {}


def test_corpus_covers_the_required_features():
    seen = {"positive": set(), "negative": set()}
    for vector in CORPUS.vectors():
        seen[vector.kind] |= set(vector.case["features"])
    for kind, required in REQUIRED_FEATURES.items():
        assert required <= seen[kind], f"{kind} vectors lack {sorted(required - seen[kind])}"


@pytest.mark.nojit
@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes_as_recorded(name):
    result = check_vector(CORPUS.vector(name), InProcessDecoder())
    assert result.passed, f"{name}: expected {result.expected}, got {result.got}: {result.detail}"


@pytest.mark.parametrize("plugin, setting", [("vbq", "lambda"), ("bayesq-grid", "bits"), ("gmvq", "index_model")])
def test_each_plugin_is_covered_at_several_rates(plugin, setting):
    rates = set()
    for vector in CORPUS.vectors():
        if vector.kind == "positive" and vector.case["pipeline"]["quantizer"]["id"] == plugin:
            rates |= {json.dumps(g["setting"][setting]) for g in vector.case["groups"]}
    assert len(rates) >= 3, f"{plugin}: settings {sorted(rates)}"


def test_the_core_catalogue_still_writes_its_stored_vectors_byte_for_byte(tmp_path):
    """Encoder drift (a changed default table, quantizer or coder) shows up here, not only in new vectors.

    The plugins' vectors are checked the same way from their own entry points, in each plugin's tests."""
    from codecframe.conformance.generate import drift

    assert drift(CORPUS, ["core"], tmp_path) == {}


def test_the_corpus_case_sets_define_every_stored_vector():
    from codecframe.conformance import case_sets

    assert CORPUS.case_sets() == ["core", "vbq", "bayesq", "gmvq"]
    defined = [c.name for c in case_sets.load_all(CORPUS.case_sets())]
    assert sorted(defined) == sorted(NAMES)
