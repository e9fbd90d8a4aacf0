"""Tests of the example coder, written only against codecframe's public API and its testing kit."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from codecframe import Pipeline, decode, registry
from codecframe.errors import ConfigError, DecodeError
from codecframe.probability import ProbabilityModel
from codecframe.testing import check_entropy_coder, strategies, suite
from codecframe_pyrans.coder import ByteRansCoder

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())["cases"]


def test_contract():
    check_entropy_coder(ByteRansCoder)


def test_installed_contracts(codecframe_component):
    """Parametrized by the kit's pytest plugin over this distribution's components."""
    suite.check(codecframe_component)


def test_installed_combinations(codecframe_combination):
    outcome = suite.check_combination(codecframe_combination)
    assert outcome == "ok" or outcome.startswith(("incompatible", "infeasible"))


def _model(case):
    sizes = np.array(case["sizes"]) if "sizes" in case else None
    return ProbabilityModel.from_counts(np.array(case["counts"]), precision=case["precision"],
                                        offsets=np.array(case["offsets"]), sizes=sizes)


@pytest.mark.parametrize("case", GOLDEN, ids=lambda c: c["name"])
def test_golden_vectors(case):
    coder, model = ByteRansCoder(precision=case["precision"]), _model(case)
    idx = None if case["indexes"] is None else np.array(case["indexes"], np.int32)
    symbols = np.array(case["symbols"], np.int32)
    assert coder.encode(symbols, model, idx).hex() == case["stream"]
    assert coder.decode(bytes.fromhex(case["stream"]), model, symbols.size, idx).tolist() == case["symbols"]
    with pytest.raises(DecodeError):
        coder.decode(bytes.fromhex(case["stream"]) + b"\x00", model, symbols.size, idx)


@settings(max_examples=60, deadline=None)
@given(strategies.models_and_symbols())
def test_round_trip_and_size(case):
    model, symbols, indexes = case
    coder = ByteRansCoder(precision=model.precision)
    data = coder.encode(symbols, model, indexes)
    assert coder.decode(data, model, symbols.size, indexes).tolist() == symbols.tolist()
    # state flush 48 bits, at most 8 bits of a partly used last byte, 2^(p-39)/ln 2 bits per symbol
    assert 8 * len(data) <= model.information(symbols, indexes) + 0.001 * symbols.size + 48 + 8


def test_precision_is_a_validated_config_field():
    assert ByteRansCoder().precision == 16 and ByteRansCoder(precision=24).get_config()["precision"] == 24
    with pytest.raises(ConfigError):
        ByteRansCoder(precision=25)


def test_pipeline_from_config():
    rng = np.random.default_rng(0)
    groups = {"w": registry.get("posterior", "gaussian").example(rng, (40, 20))}
    pipe = Pipeline.from_config({"quantizer": {"id": "uniform", "step": 0.1}, "allocator": {"id": "fixed"},
                                 "entropy_coder": {"id": "byte-rans", "precision": 14}})
    data = pipe.encode(groups)
    out = decode(data)
    assert out.header["pipeline"]["entropy_coder"] == {"id": "byte-rans", "version": 1, "precision": 14}
    assert np.abs(out.arrays["w"] - groups["w"].mean).max() <= 0.05 + 1e-12
