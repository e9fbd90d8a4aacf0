"""Deliberately altered decoders fail exactly the vectors that exercise what was altered."""

import numpy as np
import pytest

import codecframe.coders.range as range_module
from codecframe.builtins.uniform import UniformQuantizer
from codecframe.conformance import Corpus, InProcessDecoder, default_corpus, run

CORPUS = Corpus(default_corpus())


def positive_with(coder=None, quantizer=None):
    names = set()
    for v in CORPUS.vectors():
        if v.kind != "positive":
            continue
        pipe = v.case["pipeline"]
        if (coder is None or pipe["entropy_coder"]["id"] == coder) and (quantizer is None or pipe["quantizer"]["id"] == quantizer):
            names.add(v.name)
    return names


def test_a_bit_flip_in_the_range_decoder_state_fails_every_range_vector(monkeypatch):
    def flip(original):
        def flipped(words, *args):
            words = words.copy()
            if words.size:
                words[0] ^= np.uint32(1 << 7)  # one bit of the code point loaded into the decoder state
            return original(words, *args)
        return flipped

    for kernel in ("decode_table", "decode_param"):  # table and parametric models
        monkeypatch.setattr(range_module, kernel, flip(getattr(range_module, kernel)))
    results = run(CORPUS, InProcessDecoder())
    failed = {r.name for r in results if not r.passed}
    expected = positive_with(coder="range")
    assert expected and failed == expected
    assert all(r.got in ("DecodeError", "mismatch") for r in results if not r.passed)


def test_a_reconstruction_one_ulp_off_fails_on_values_not_symbols(monkeypatch):
    original = UniformQuantizer.dequantize

    def off_by_one_ulp(self, q):
        values = original(self, q)
        return np.nextafter(values, np.inf).astype(values.dtype)

    monkeypatch.setattr(UniformQuantizer, "dequantize", off_by_one_ulp)
    results = {r.name: r for r in run(CORPUS, InProcessDecoder())}
    failed = {n for n, r in results.items() if not r.passed}
    uniform = positive_with(quantizer="uniform") | positive_with(quantizer="uniform-parametric")  # the same dequantize
    assert failed == {n for n in uniform if any(g["count"] for g in CORPUS.vector(n).case["groups"])}
    for name in failed:
        assert "reconstruction" in results[name].detail and "symbols differ" not in results[name].detail


@pytest.mark.parametrize("coder", ["range", "rans"])
def test_vectors_of_each_coder_exist(coder):
    assert len(positive_with(coder=coder)) >= 3
