"""The gmvq conformance cases come from this plugin's ``codecframe.conformance_cases`` entry point and
regenerate the stored vectors (in codecframe's corpus, ``specs/vectors``) byte for byte."""

from codecframe.conformance import Corpus, case_sets, default_corpus
from codecframe.conformance.generate import drift


def test_the_entry_point_provides_the_gmvq_cases():
    assert "gmvq" in case_sets.available()
    names = [c.name for c in case_sets.load("gmvq")]
    assert names and set(names) <= set(Corpus(default_corpus()).names())


def test_the_stored_gmvq_vectors_regenerate_byte_for_byte_from_the_entry_point(tmp_path):
    assert drift(Corpus(default_corpus()), ["gmvq"], tmp_path) == {}
