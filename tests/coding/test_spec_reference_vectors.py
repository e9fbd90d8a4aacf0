"""The parametric-model conformance vectors are what specs/range-coder.md §6 prescribes: the plain-Python
reference of ``test_spec_reference.py`` re-encodes each group's symbols, under the model that
specs/bitstream.md §7.4 builds from the header, to the stored stream bytes (and decodes them back)."""

import numpy as np
import pytest

from codecframe import container
from codecframe.conformance import Corpus, default_corpus
from codecframe.conformance.corpus import symbols_sha256
from codecframe.conformance.decoding import decode_with_symbols
from codecframe.probability import ParametricModel
from test_spec_reference import reference

CORPUS = Corpus(default_corpus())
PARAMETRIC = [v.name for v in CORPUS.vectors()
              if v.kind == "positive" and v.case["pipeline"]["quantizer"]["id"] == "uniform-parametric"]


def test_there_are_parametric_vectors_for_each_family_and_coder():
    pipelines = [CORPUS.vector(n).case["pipeline"] for n in PARAMETRIC]
    assert {p["quantizer"]["family"] for p in pipelines} == {"gaussian", "laplace", "logistic"}
    assert {p["entropy_coder"]["id"] for p in pipelines} == {"range", "rans"}


@pytest.mark.nojit
@pytest.mark.parametrize("name", PARAMETRIC)
def test_the_reference_coder_writes_the_stored_streams(name):
    vector = CORPUS.vector(name)
    data = vector.file("stream.cfr")
    box = container.read(data)
    config = box.header["pipeline"]
    symbols = decode_with_symbols(data).symbols
    for i, (rec, stored) in enumerate(zip(box.header["groups"], vector.case["groups"])):
        sym = symbols[rec["name"]]
        assert symbols_sha256(sym) == stored["symbols_sha256"]
        side, shape, axis = rec["side"], tuple(rec["shape"]), config["quantizer"].get("channel_axis")
        model = ParametricModel(config["quantizer"]["family"], side["mean"], side["scale"], side["lo"], side["hi"],
                                escape=True, precision=config["entropy_coder"]["precision"])
        if axis is None:
            indexes = [0] * len(sym)
        else:  # §7.4: the index along the channel axis, in C order
            indexes = np.indices(shape)[axis % len(shape)].reshape(-1).tolist()
        assert reference(config["entropy_coder"]["id"], model, sym.tolist(), indexes) == box.streams[i], rec["name"]
