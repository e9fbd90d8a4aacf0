"""The kit's hypothesis strategies, used as property tests over every installed component."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codecframe.registry import registry
from codecframe.testing import strategies as cst
from codecframe.testing import suite

CODERS = [t.id for t in suite.components(["entropy_coder"])]
POSTERIORS = [t.id for t in suite.components(["posterior"])]
CONFIGURABLE = [t for t in suite.components(["quantizer", "allocator", "entropy_coder"])]


@pytest.mark.nojit
@pytest.mark.parametrize("coder_id", CODERS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_table_models_round_trip(coder_id, data):
    coder_cls = registry.get("entropy_coder", coder_id)
    precision = data.draw(st.sampled_from([12, 16, 24]))
    coder = coder_cls(precision=precision)
    model, symbols, indexes = data.draw(cst.models_and_symbols(precision=precision, max_size=500))
    assert model.precision == precision and symbols.dtype == np.int32
    encoded = coder.encode(symbols, model, indexes)
    assert np.array_equal(coder.decode(encoded, model, symbols.size, indexes), symbols)


@pytest.mark.parametrize("coder_id", CODERS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_parametric_models_round_trip(coder_id, data):
    coder_cls = registry.get("entropy_coder", coder_id)
    if "parametric" not in coder_cls.model_kinds:
        pytest.skip(f"{coder_id} codes table models only")
    model = data.draw(cst.parametric_models(max_params=32))
    symbols, indexes = data.draw(cst.parametric_symbols(model, max_size=300))
    coder = coder_cls(precision=model.precision)
    encoded = coder.encode(symbols, model, indexes)
    assert np.array_equal(coder.decode(encoded, model, symbols.size, indexes), symbols)


@pytest.mark.parametrize("posterior_id", POSTERIORS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_posterior_strategy_builds_the_drawn_shape(posterior_id, data):
    cls = registry.get("posterior", posterior_id)
    shape = data.draw(cst.shapes(max_dims=3, max_side=6))
    post = data.draw(cst.posteriors(cls, st.just(shape)))
    assert isinstance(post, cls) and post.shape == shape
    assert np.all(np.isfinite(np.asarray(post.point(), np.float64)))


@pytest.mark.parametrize("target", CONFIGURABLE, ids=str)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_config_strategy_round_trips(target, data):
    cls = registry.get(target.kind, target.id)
    config = data.draw(cst.configs(cls))
    assert config["id"] == cls.id and config["version"] == cls.version
    assert cls.from_config(config).get_config() == config
    assert isinstance(data.draw(cst.components(cls)), cls)


@settings(max_examples=50, deadline=None)
@given(cst.probability_models(max_models=3, max_alphabet=20))
def test_probability_model_strategy_covers_its_range(model):
    assert 1 <= model.num_models <= 3 and 1 <= model.max_size <= 20
    assert model.precision in (12, 16, 24)
    freqs = model.freqs
    assert np.all(freqs[np.arange(model.max_size)[None, :] < model.sizes[:, None]] >= 1)
