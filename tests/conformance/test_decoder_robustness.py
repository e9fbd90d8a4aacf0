"""Malformed files found by the fuzz campaign must raise a CodecframeError, never another exception.

Each test is a minimal reproducer of a crash the campaign found (``benchmarks/fuzz``). The first
three (count/shape mismatch, unhashable dtype, empty shape with a 2^63-1 axis) are fixed in the
core, and the GM-VQ setting check in its plugin. Mark a newly found, not yet fixed defect
xfail(strict=True) and remove the mark with the fix.
"""

import numpy as np
import pytest

from codecframe import decode
from codecframe.builtins.gaussian import GaussianPosterior
from codecframe.conformance import surgery
from codecframe.errors import CodecframeError, FormatError
from codecframe.pipeline import Pipeline

DATA = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.5}}).encode(
    {"c": GaussianPosterior(mean=np.full((5, 5), 1.0), std=np.ones((5, 5)))})


def edited(**changes):
    return surgery.rewrite_header(DATA, lambda h: h["groups"][0].update(changes))


def test_count_that_does_not_match_the_shape():
    """Found by the campaign (a ValueError from reshape); fixed in the core by Quantizer.symbol_count."""
    with pytest.raises(FormatError, match="shape implies 25"):
        decode(edited(count=24))


@pytest.mark.parametrize("dtype", [[], {}, np.zeros(2, np.uint8)])
def test_unhashable_group_dtype(dtype):
    with pytest.raises(CodecframeError):
        decode(edited(dtype=dtype))


def test_empty_shape_with_a_huge_axis():
    empty = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.5}}).encode(
        {"e": GaussianPosterior(mean=np.zeros((0, 3)), std=np.ones((0, 3)))})
    with pytest.raises(CodecframeError):
        decode(surgery.rewrite_header(empty, lambda h: h["groups"][0].update(shape=[0, 2**63 - 1])))


@pytest.mark.parametrize("changes", [{"shape": [5, -5]}, {"shape": "5x5"}, {"count": -1}, {"setting": []},
                                     {"side": {"lo": "x", "counts": [1]}}, {"name": 7}])
def test_other_malformed_group_records_are_rejected(changes):
    with pytest.raises(CodecframeError):
        decode(edited(**changes))


def test_gmvq_setting_holding_an_array():
    from codecframe.conformance import Corpus, default_corpus

    vector = Corpus(default_corpus()).vector("gmvq-digits-usage-range-p16")  # stored vectors are append-only
    data = surgery.rewrite_header(vector.file("stream.cfr"),
                                  lambda h: h["groups"][0].update(setting={"index_model": np.arange(3)}))
    with pytest.raises(CodecframeError):
        decode(data)


def test_bayesq_group_with_no_rows():
    """Found by the campaign: a zero-row group reached ``min()`` of an empty per-row width array."""
    from codecframe.conformance import Corpus, default_corpus

    corpus = Corpus(default_corpus())
    names = [n for n in corpus.names() if n.startswith("bayesq-grid")]
    assert names, "the corpus lost its BayesQ vectors"
    data = surgery.rewrite_header(corpus.vector(names[0]).file("stream.cfr"),
                                  lambda h: h["groups"][0].update(shape=[0, 4], count=0))
    try:
        decode(data)
    except CodecframeError:
        pass


def test_provenance_distribution_holding_an_array():
    def edit(h):
        h["pipeline"]["quantizer"]["id"] = "no-such-quantizer"
        h["provenance"]["quantizer"] = {"distribution": np.zeros(0, np.uint8), "version": "1"}

    with pytest.raises(CodecframeError):
        decode(surgery.rewrite_header(DATA, edit))
