"""Tests of the example plugin, written only against codecframe's public API and its testing kit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codecframe import Pipeline, decode
from codecframe.testing import check_posterior, check_quantizer, strategies, suite
from codecframe_deadzone.deadzone import DeadZoneQuantizer
from codecframe_deadzone.laplace import LaplacePosterior
from codecframe_deadzone.prior import prior_ref


def test_posterior_contract():
    check_posterior(LaplacePosterior)


def test_quantizer_contract():
    check_quantizer(DeadZoneQuantizer)


def test_installed_contracts(codecframe_component):
    """Parametrized by the kit's pytest plugin over this distribution's components."""
    suite.check(codecframe_component)


def test_installed_combinations(codecframe_combination):
    outcome = suite.check_combination(codecframe_combination)
    assert outcome == "ok" or outcome.startswith(("incompatible", "infeasible"))


@settings(max_examples=40, deadline=None)
@given(strategies.posteriors(LaplacePosterior), st.sampled_from([0.1, 0.5, 2.0]), st.sampled_from([0.2, 0.5]))
def test_dead_zone_and_error_bound(post, step, rounding):
    q = DeadZoneQuantizer(rounding=rounding, bias=0.0)
    qz = q.quantize(post, {"step": step})
    x = post.mean.ravel()
    zero = np.abs(x) < (1 - rounding) * step
    assert np.all((qz.symbols == 0) == zero)
    err = np.abs(q.dequantize(qz).ravel() - x)
    assert np.all(err <= max(rounding, 1 - rounding) * step + 1e-12)


@pytest.mark.parametrize("prior", [None, "shipped"])
def test_pipeline_from_config(prior):
    rng = np.random.default_rng(0)
    groups = {"w": LaplacePosterior.example(rng, (32, 16)), "b": LaplacePosterior.example(rng, (16,))}
    quantizer = {"id": "deadzone", **({"prior": prior_ref()} if prior else {})}
    pipe = Pipeline.from_config({"posterior": {"id": "laplace"}, "quantizer": quantizer,
                                 "allocator": {"id": "lagrangian", "target_bpe": 4.0}})
    out = decode(pipe.encode(groups))
    for name, post in groups.items():
        assert out.arrays[name].shape == post.shape
        assert np.sqrt(np.mean((out.arrays[name] - post.mean) ** 2)) < 0.5


def test_candidates_the_precision_cannot_code_are_skipped():
    """At precision 12 the finest steps give more than 4096 levels: symbol_model raises InputError, the
    allocator's skip signal, so the encode picks a coarser candidate instead of failing."""
    rng = np.random.default_rng(1)
    post = LaplacePosterior(loc=rng.laplace(0.0, 200.0, (64, 64)), scale=np.ones((64, 64)))
    pipe = Pipeline.from_config({"posterior": {"id": "laplace"}, "quantizer": {"id": "deadzone"},
                                 "allocator": {"id": "lagrangian", "target_bpe": 12.0},
                                 "entropy_coder": {"id": "range", "precision": 12}})
    out = decode(pipe.encode({"w": post}))
    step = out.header["groups"][0]["setting"]["step"]
    assert step > 0.25 and np.abs(out.arrays["w"] - post.mean).max() <= step
